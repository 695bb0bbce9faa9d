"""Prose elision: least relevant paragraphs out, headings kept, every marker retrieves exactly."""

from __future__ import annotations

import json
from importlib import metadata

import pytest

from compression_layer.compress.elide import reduce_prose
from compression_layer.compress.reversible import MARKER_RE, selector_of
from compression_layer.compress.types import Domain
from compression_layer.originals.select import parse_ranges, select, split_lines
from compression_layer.tokens import count_tokens
from repo_paths import SHARED_DATA

HANDLE = "o_e11de0123456"
PROSE = Domain(kind="prose")
SQUAD = SHARED_DATA / "squad" / "squad_dev_part_a.json"

DOC = """# Cache service

The cache service keeps recently used records in memory so that repeated reads avoid the database.
It runs beside the API workers and answers over a local socket.

## Eviction

Entries are evicted in least recently used order once the cache holds its configured number of
items. An eviction is counted in the metrics and logged at debug level.

Eviction never blocks a reader: the evicted entry stays readable until the last reader lets go.

## Configuration

```yaml
# size is a number of entries, not bytes
size: 1000
# ttl in seconds
ttl: 60
```

The size is read at start-up; changing it needs a restart. The time to live applies to each
entry from the moment it was written, not from its last read.

## History

The first version stored entries in a dictionary guarded by one lock. It was replaced in the
second year by a sharded table, which removed most of the lock contention under load.

Some teams asked for persistence across restarts. This was declined: the database is the
source of truth, and a warm-up read of the busiest keys takes under a second.

Benchmarks from that time showed a median read latency of 40 microseconds on the sharded table,
against 310 microseconds with the single lock, on a machine with sixteen cores.
"""


def check(original: str, output: str) -> int:
    """Every marker retrieves; every original line is kept verbatim or covered. -> markers."""
    covered: set[int] = set()
    found = list(MARKER_RE.finditer(output))
    for mark in found:
        assert mark.group("handle") == HANDLE
        selector = selector_of(mark)
        assert set(selector) == {"lines"}
        part = select(original, "prose", **selector)
        assert part.strip()
        for first, last in parse_ranges(selector["lines"], key="lines", base=1):
            covered.update(range(first, last + 1))
    kept = set(output.split("\n"))
    for number, line in enumerate(split_lines(original), start=1):
        if number not in covered:
            assert line in kept, f"line {number} neither kept nor covered: {line!r}"
    return len(found)


def test_query_keeps_the_matching_paragraph_and_every_heading() -> None:
    total = count_tokens(DOC)
    budget = total // 2
    out = reduce_prose(
        DOC, PROSE, budget=budget, query="what latency did the benchmarks show", handle=HANDLE
    )
    assert out is not None
    assert "median read latency of 40 microseconds" in out.text
    for heading in ("# Cache service", "## Eviction", "## Configuration", "## History"):
        assert heading in out.text
    assert count_tokens(out.text) <= budget
    assert out.omitted >= 2
    assert check(DOC, out.text) >= 1
    assert "paragraph" in MARKER_RE.search(out.text).group("what")  # type: ignore[union-attr]


def test_code_fences_are_whole_blocks() -> None:
    out = reduce_prose(DOC, PROSE, budget=120, query="time to live of entries", handle=HANDLE)
    assert out is not None
    check(DOC, out.text)
    fence = "```yaml\n# size is a number of entries, not bytes\nsize: 1000\n# ttl in seconds\n"
    kept_fence = fence in out.text
    lines = [mark for mark in MARKER_RE.finditer(out.text)]
    covered = any("```yaml" in select(DOC, "prose", **selector_of(mark)) for mark in lines)
    assert kept_fence != covered  # kept whole or left out whole, never split
    assert "## Configuration" in out.text  # a comment line in the fence is not a heading


def test_without_query_leads_and_structure_stay() -> None:
    total = count_tokens(DOC)
    out = reduce_prose(DOC, PROSE, budget=int(total * 0.6), query=None, handle=HANDLE)
    assert out is not None
    assert out.text.startswith("# Cache service\n\nThe cache service keeps recently used records")
    assert count_tokens(out.text) <= int(total * 0.6)
    check(DOC, out.text)


def test_nothing_to_offer() -> None:
    assert reduce_prose(DOC, PROSE, budget=10_000, query=None, handle=HANDLE) is None
    one = "A single paragraph that is far too long for its budget, " * 20
    assert reduce_prose(one, PROSE, budget=10, query=None, handle=HANDLE) is None


def test_headings_alone_over_budget_say_so() -> None:
    out = reduce_prose(DOC, PROSE, budget=5, query=None, handle=HANDLE)
    assert out is not None
    assert any("over the budget" in note for note in out.notes)
    check(DOC, out.text)


def _halve(block: str, rate: float) -> str:
    """A stand-in for the word-level engine: keeps the first ``rate`` of each line's words."""
    kept = []
    for line in block.split("\n"):
        words = line.split()
        kept.append(" ".join(words[: max(1, round(len(words) * rate))]))
    return "\n".join(kept)


def test_squeeze_keeps_more_paragraphs_within_the_budget() -> None:
    total = count_tokens(DOC)
    budget = int(total * 0.55)
    plain = reduce_prose(DOC, PROSE, budget=budget, query="eviction", handle=HANDLE)
    squeezed = reduce_prose(
        DOC, PROSE, budget=budget, query="eviction", handle=HANDLE, squeeze=_halve
    )
    assert plain is not None and squeezed is not None
    assert squeezed.omitted < plain.omitted
    assert count_tokens(squeezed.text) <= budget * 1.1
    assert any("squeezed at rate" in note for note in squeezed.notes)
    for mark in MARKER_RE.finditer(squeezed.text):  # markers still name exact lines
        assert select(DOC, "prose", **selector_of(mark)).strip()


def test_crlf_and_setext_headings() -> None:
    text = DOC.replace("## History", "History\n-------").replace("\n", "\r\n")
    out = reduce_prose(text, PROSE, budget=count_tokens(text) // 2, query="restart", handle=HANDLE)
    assert out is not None
    assert "History\r\n-------\r" in out.text
    check(text, out.text)


def test_readme_from_package_metadata() -> None:
    readme = metadata.metadata("pydantic").get_payload()  # type: ignore[attr-defined]
    assert isinstance(readme, str) and readme.count("\n## ") >= 2
    total = count_tokens(readme)
    budget = total // 4
    out = reduce_prose(readme, Domain(kind="mixed"), budget=budget, query="install", handle=HANDLE)
    assert out is not None
    assert count_tokens(out.text) <= budget * 1.1
    headings = [line for line in readme.split("\n") if line.startswith("## ")]
    assert all(h in out.text for h in headings)
    check(readme, out.text)


@pytest.mark.skipif(not SQUAD.exists(), reason=f"{SQUAD} not present (shared data)")
def test_squad_answer_paragraph_kept() -> None:
    articles = json.loads(SQUAD.read_text(encoding="utf-8"))["data"]
    hits = total = 0
    for article in articles:
        paragraphs = [p["context"] for p in article["paragraphs"]]
        text = f"# {article['title']}\n\n" + "\n\n".join(paragraphs) + "\n"
        budget = int(count_tokens(text) * 0.2)
        for index, paragraph in enumerate(article["paragraphs"][::4]):
            question = next((q for q in paragraph["qas"] if not q.get("is_impossible")), None)
            if question is None:
                continue
            out = reduce_prose(
                text, PROSE, budget=budget, query=question["question"], handle=HANDLE
            )
            assert out is not None
            total += 1
            hits += paragraphs[index * 4] in out.text
            assert count_tokens(out.text) <= budget
        check(text, out.text)
    assert total >= 50
    assert hits / total >= 0.9, f"{hits}/{total}"
