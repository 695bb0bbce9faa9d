"""Domain detection: kinds, languages, confidence, and lossless markdown fence splitting."""

from __future__ import annotations

import ast
import json
import re
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compression_layer.compress.domain import Segment, detect, detect_language, split_fences

SNIPPETS = {
    "python": """
        import os

        class Config:
            def __init__(self, path: str) -> None:
                self.path = path

            def exists(self) -> bool:
                return os.path.exists(self.path)
        """,
    "javascript": """
        const path = require('path');
        function resolve(name) {
          return path.join(__dirname, name);
        }
        console.log(resolve('index.js'));
        """,
    "typescript": """
        export interface Options {
          retries: number;
          verbose?: boolean;
        }
        export function run(opts: Options): void {
          const n: number = opts.retries;
        }
        """,
    "go": """
        package main

        import "fmt"

        func main() {
        \tx := 42
        \tif x > 0 {
        \t\tfmt.Println(x)
        \t}
        }
        """,
    "rust": """
        fn parse(input: &str) -> Result<u32, String> {
            let mut total = 0;
            for c in input.chars() {
                total += c.to_digit(10).unwrap();
            }
            Ok(total)
        }
        """,
    "java": """
        public class Greeter {
            private final String name;
            public Greeter(String name) { this.name = name; }
            @Override
            public String toString() { return "Greeter " + name; }
        }
        """,
    "c": """
        #include <stdio.h>

        int main(void) {
            char *msg = "hi";
            printf("%s\\n", msg);
            return 0;
        }
        """,
    "cpp": """
        #include <iostream>
        #include <vector>

        int main() {
            std::vector<int> xs{1, 2, 3};
            for (auto x : xs) std::cout << x << std::endl;
        }
        """,
    "shell": """
        #!/bin/bash
        set -e
        for f in *.txt; do
          echo "$f"
        done
        """,
    "sql": """
        SELECT name, COUNT(*) AS n
        FROM orders
        WHERE status = 'paid'
        GROUP BY name
        ORDER BY n DESC;
        """,
}

PROSE = (
    "The Industrial Revolution began in Great Britain in the late 18th century. It changed "
    "how goods were made, moving production from homes to factories, and it spread to Europe "
    "and North America within a few decades."
)


@pytest.mark.parametrize("language", sorted(SNIPPETS))
def test_detects_code_and_language(language: str) -> None:
    code = textwrap.dedent(SNIPPETS[language]).strip() + "\n"
    domain = detect(code)
    assert (domain.kind, domain.language) == ("code", language)
    assert 0.5 <= domain.confidence <= 1.0
    assert detect_language(code) == language


def test_prose_is_prose_even_with_code_words() -> None:
    assert detect(PROSE).kind == "prose"
    tricky = (
        "Voters will select a new council from the candidates, and the class of issues they "
        "care about is broad. Imports of grain fell, and the public library will print a guide."
    )
    domain = detect(tricky)
    assert domain.kind == "prose" and domain.language is None
    assert detect_language(PROSE) is None


@pytest.mark.parametrize(
    "text",
    [
        '{"a": 1, "b": [true, null]}',
        "[1, 2, 3]",
        '  \n{\n  "nested": {"k": "v"}\n}\n',
        '{"event": "a", "n": 1}\n{"event": "b", "n": 2}\n',
    ],
)
def test_detects_json_and_json_lines(text: str) -> None:
    domain = detect(text)
    assert domain.kind == "json" and domain.confidence >= 0.9


@pytest.mark.parametrize("text", ["42", '"just a string"', "{not: json}", "[INFO] started\n"])
def test_not_json(text: str) -> None:
    assert detect(text).kind != "json"


@pytest.mark.parametrize(
    "text",
    [
        "2024-03-01 10:30:01 INFO start\n2024-03-01 10:30:02 ERROR boom\n",
        "[2024-03-01T10:30:01Z] GET /a 200\n[2024-03-01T10:30:02Z] GET /b 404\n",
        "Mar  3 10:30:00 host sshd[1]: ok\nMar  3 10:30:01 host sshd[1]: closed\n",
        "INFO: ready\nWARNING: disk at 91%\nERROR: write failed\n",
        '10.0.0.1 - - [10/Oct/2023:13:55:36 +0000] "GET / HTTP/1.1" 200 12\n'
        '10.0.0.2 - - [10/Oct/2023:13:55:37 +0000] "GET /x HTTP/1.1" 404 0\n',
    ],
)
def test_detects_logs(text: str) -> None:
    domain = detect(text)
    assert domain.kind == "log" and domain.confidence >= 0.5


def test_log_with_stack_trace_majority() -> None:
    text = (
        "2024-03-01 10:30:01 ERROR failed\nTraceback (most recent call last):\n"
        "2024-03-01 10:30:02 INFO retry\n2024-03-01 10:30:03 INFO ok\n"
    )
    assert detect(text).kind == "log"


def test_mixed_markdown() -> None:
    text = "Install it:\n\n```bash\npip install x\n```\n\nThen run:\n\n```py\nimport x\n```\n"
    domain = detect(text)
    assert domain.kind == "mixed"
    assert domain.language in {"shell", "python"}


def test_only_a_fence_is_code_or_json() -> None:
    assert detect("```go\nfunc main() {}\n```\n").label() == "code:go"
    assert detect('```json\n{"a": 1}\n```').kind == "json"


def test_empty_text() -> None:
    domain = detect("  \n ")
    assert domain.kind == "prose" and domain.confidence == 0.0


def test_split_fences_basic() -> None:
    text = "intro\n```python title\nx = 1\n```\noutro\n~~~\nraw\n~~~"
    segments = split_fences(text)
    assert [s.kind for s in segments] == ["text", "code", "text", "code"]
    intro, code, outro, tilde = segments
    assert intro == Segment("text", "intro\n", None, "", "", 0, 6)
    assert (code.language, code.text, code.fence_open, code.fence_close) == (
        "python",
        "x = 1\n",
        "```python title\n",
        "```\n",
    )
    assert outro.text == "outro\n"
    assert tilde.language is None and tilde.text == "raw\n" and tilde.fence_close == "~~~"
    assert all(text[s.start : s.end] == s.raw for s in segments)


def test_split_fences_commonmark_rules() -> None:
    # An unclosed fence runs to the end; a shorter or other-character fence does not close it.
    segs = split_fences("````js\na\n```\n~~~~\nb\n")
    assert len(segs) == 1 and segs[0].kind == "code" and segs[0].fence_close == ""
    assert segs[0].language == "javascript"
    # Four spaces of indent is not a fence; backticks in a backtick info string are not either.
    assert [s.kind for s in split_fences("    ```\ncode\n")] == ["text"]
    assert [s.kind for s in split_fences("``` a`b\nx\n")] == ["text"]
    # A closing fence may be longer than the opening one, and CRLF line ends are kept.
    segs = split_fences("```\r\nx\r\n`````\r\ntail")
    assert [s.kind for s in segs] == ["code", "text"]
    assert segs[0].fence_close == "`````\r\n" and segs[1].text == "tail"


_FENCE_PIECES = st.sampled_from(
    ["```", "~~~", "````", "```py", "~~~ sql", "   ```", "    ```", "\n", "\r\n", "text", " ", "`"]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(_FENCE_PIECES, st.text(max_size=5)), max_size=25).map("".join))
def test_split_fences_round_trip(text: str) -> None:
    segments = split_fences(text)
    assert "".join(s.raw for s in segments) == text
    position = 0
    for segment in segments:
        assert segment.start == position and text[segment.start : segment.end] == segment.raw
        assert segment.raw  # no empty segments
        position = segment.end
    assert position == len(text)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_detect_never_fails_and_confidence_in_range(text: str) -> None:
    domain = detect(text)
    assert 0.0 <= domain.confidence <= 1.0
    assert domain.kind in {"prose", "code", "mixed", "json", "log"}


def _rule_label(text: str) -> str:
    """The independent labelling rule of bench/domain_accuracy.py."""
    try:
        ast.parse(textwrap.dedent(text))
    except (SyntaxError, ValueError):
        return "prose"
    keyword = re.search(r"^\s*(def |class |async def |import |from \S+ import|@\w)", text, re.M)
    return "code:python" if keyword else "prose"


def test_seed_pairs_agree_with_labelling_rule(shared_data: Path) -> None:
    path = shared_data / "seed-pairs" / "valid.jsonl"
    inputs = [
        json.loads(line)["messages"][1]["content"].removeprefix("Compress:\n")
        for line in path.read_text(encoding="utf-8").splitlines()
    ]
    agree = sum(detect(text).label() == _rule_label(text) for text in inputs)
    assert agree / len(inputs) >= 0.95
