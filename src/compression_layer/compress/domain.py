"""Domain detection: prose, code (with its language), mixed markdown, JSON or logs.

The pipeline routes on this, so it must be cheap: a few KB take well under a millisecond.
Everything is heuristic: JSON is parsed, logs (and test-runner or CI output) are recognised by
line prefixes, markdown fences are split exactly, and languages are scored from keyword counts
(one regex pass plus ``str.count``) rather than by running a regex per feature.

Source files are recognised whatever they open with: a shebang names its interpreter, and a
leading block of comments (a licence header, an encoding cookie) or a module docstring is skipped
before the code is scored. Python-looking text is confirmed with ``ast.parse`` of the whole text
(or of its first 20,000 characters cut at a top-level statement), which also keeps a module whose
docstring holds markdown fences or reST ``~~~`` underlines from being read as markdown.
"""

from __future__ import annotations

import ast
import json
import re
import textwrap
from collections import Counter
from dataclasses import dataclass
from typing import Literal

from compression_layer.compress.types import Domain

__all__ = ["Segment", "detect", "detect_language", "split_fences"]

_SAMPLE = 6000  # characters scored for language and shape; enough to decide, cheap to scan
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_FENCE_OPEN = re.compile(r" {0,3}(`{3,}|~{3,})([^\n]*)")
_FENCE_CLOSE = re.compile(r" {0,3}(`{3,}|~{3,})[ \t]*")
_LOG_LINE = re.compile(
    r"^[ \t]*(?:"
    r"\[?\d{4}[-/.]\d{2}[-/.]\d{2}[T _]\d{1,2}:\d{2}"  # ISO-like date and time
    r"|\[?\d{1,2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}"  # common log format
    r"|\d{1,3}(?:\.\d{1,3}){3} \S+ \S+ \["  # access log: ip ident user [time]
    r"|(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ \d]\d \d{2}:\d{2}:\d{2}"  # syslog
    r"|\[?\d{2}:\d{2}:\d{2}"  # time first
    r"|[\[<]?(?:TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|ERR|CRITICAL|FATAL|SEVERE)[\]>]?[\s:|-]"
    r"|[IWEF]\d{4} \d{2}:\d{2}:\d{2}"  # glog
    r"|\d{10}(?:\.\d+)?\s"  # epoch seconds
    r"|<\d{1,3}>"  # syslog priority
    r")",
    re.MULTILINE,
)
# Test runners, build tools and CI (pytest, tracebacks, jest/mocha/npm, cargo, go test, GitHub
# Actions, pip, compiler diagnostics): lines that count as log lines beside _LOG_LINE.
_RUNNER_LINE = re.compile(
    r"^[ \t]*(?:"
    r"={3,} \S|_{3,} \S|(?:_ ){8,}|-{3,} (?:Captured|generated|coverage)"  # pytest rules
    r"|(?:PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS)\b|\S+::\S*.* (?:PASSED|FAILED|SKIPPED)\b"
    r"|\S+\.py [.sFEx]+ *(?:\[ *\d+%\])?$|E {2,}\S|> {3,}\S|\S+\.py:\d+: \w"
    r"|platform \w+ -- Python|(?:rootdir|configfile|plugins|cachedir): |collect(?:ed|ing) \d"
    r"|Traceback \(most recent call last\)|File \"[^\"\n]+\", line \d+|\w+(?:Error|Exception): "
    r"|(?:PASS|FAIL) +\S+\.\w+|\d+ (?:passing|failing|pending)\b|Ran all test suites"
    r"|(?:Tests|Test Suites|Test Files|Snapshots|Time|Duration): +\d|npm (?:ERR!|WARN|error)"
    r"|> \S+@\S+ \w|at (?:\S+ )?\(?\S+:\d+:\d+\)?$|>? *\d+ \| |\| +\^"
    r"|(?:Compiling|Checking) \S+ v\d|Finished .* in [\d.]+s|Running (?:unittests |tests/|`)"
    r"|running \d+ tests?$|test \S+ \.\.\. (?:ok|FAILED|ignored)|test result: |failures:$"
    r"|---- \S+ std(?:out|err) ----|thread '[^'\n]*' panicked|note: run with `|--> \S+:\d+:\d+"
    r"|(?:error|warning)(?:\[\w+\])?: |\S+:\d+:\d+: (?:error|warning|note)\b|\S+\(\d+,\d+\): \w"
    r"|=== (?:RUN|PAUSE|CONT|NAME) |--- (?:PASS|FAIL|SKIP): |(?:PASS|FAIL|ok)$|\S+_test\.go:\d+: "
    r"|(?:ok|FAIL|\?) +\S+\s+(?:[\d.]+s|\(cached\)|\[no test files\])"
    r"|##\[\w+\]|::(?:error|warning|notice|debug|group|endgroup)\b|Run \S+@v\d"
    r"|(?:Collecting|Downloading|Installing collected|Successfully (?:installed|built|set up)) "
    r"|Requirement already satisfied|(?:FAIL|ERROR): \S+ \(|Ran \d+ tests? in |FAILED \(\w+="
    r"|OK(?: \(\w+=\d+\))?$|[.FEsx]{3,}$|Found \d+ errors?|\S+:\d+(?::\d+)?: [A-Z]+\d+\b"
    r")|^[ \t]+[✓✔✕✗×√●] \S",  # jest/mocha results are indented; a checklist is not
    re.MULTILINE,
)
_LOG_OR_RUNNER = re.compile(f"{_LOG_LINE.pattern}|{_RUNNER_LINE.pattern}", re.MULTILINE)
# Markers no prose or source file opens a line with: with one of them, a quarter of log-like
# lines is enough (test output interleaves source lines and messages with its own).
_RUNNER_SIGNATURE = re.compile(
    r"^[ \t]*(?:={3,} (?:test session starts|FAILURES|ERRORS|short test summary info)"
    r"|={3,} .*\b(?:passed|failed)\b.* in [\d.]+s|(?:FAILED|ERROR) \S+::"
    r"|Traceback \(most recent call last\):|Test Suites: |Tests: +\d|test result: (?:ok|FAILED)"
    r"|running \d+ tests?$|--- (?:PASS|FAIL): |=== RUN |(?:ok|FAIL) +\S+\t[\d.]+s|npm ERR! "
    r"|##\[(?:group|error)\]|\d+ passing \(\d+m?s\)|Ran \d+ tests? in )",
    re.MULTILINE,
)
# "Caroline: ...", "[10:02:11] Bob: ...", "User: ...", "Melanie (1:56 pm on 8 May, 2023): ...",
# "<alice> ...": a chat transcript, prose for the engines even when timestamps make it look
# like a log. Names start upper-case then lower-case, so log levels (INFO:, ERROR:) never match,
# and a bracket before the name holds a time, never a level ("[INFO] Server: ..." is a log).
_SPEAKER_LINE = re.compile(
    r"^[ \t]*(?:\[\d[\w/.:,+ -]{3,39}\][ \t]*|[\d/.:, -]{5,30}[ \t]+-[ \t]+)?(?:\*\*)?"
    r"(?:(?!\w*(?:Error|Exception|Warning)\b)[A-Z][a-z][\w.'-]*(?: [A-Z][\w.'-]*){0,2}"
    r"|(?i:user|assistant|system|human|ai|bot|model))"
    r"(?:\*\*)?(?: \([^)\n]{1,60}\))?(?:\*\*)?:(?:\*\*)?[ \t]+\S"
    r"|^[ \t]*(?:\[\d[\w/.:,+ -]{3,39}\][ \t]*)?<[\w.|-]{1,30}> \S",
    re.MULTILINE,
)
_NON_SPACE = re.compile(r"\S")
_SHEBANG = re.compile(r"#![ \t]*(\S+)(?:[ \t]+(?:-\S+[ \t]+)*([\w.+-]+))?")
_INTERPRETERS = {
    **dict.fromkeys(("sh", "bash", "zsh", "ksh", "dash", "ash", "fish"), "shell"),
    **dict.fromkeys(("node", "nodejs", "bun"), "javascript"),
    **dict.fromkeys(("deno", "ts-node", "tsx"), "typescript"),
}
_COOKIE = re.compile(r"[ \t\f]*#.*?coding[:=][ \t]*[-\w.]+")
# A comment line of a preamble: "# text" (not "#include", "#[derive", "#define"), "//", "--".
_COMMENT_LINE = re.compile(r"[ \t]*(?:#(?:[ \t#!*=~-]|$)|//|-- |--$)")
_DOCSTRING_OPEN = re.compile(r"[rRuU]?(\"\"\"|''')")
_PARSE_LIMIT = 20_000  # characters of Python-looking text ast.parse confirms
# A line at column 0 that starts a statement (not one that continues the one before it); a
# def or class is preferred: prose inside a string rarely starts a line with one.
_PY_TOP_LEVEL = re.compile(r"\n(?=[A-Za-z_@])(?!(?:elif|else|except|finally)\b)")
_PY_DEF_LEVEL = re.compile(r"\n(?=@|(?:async def|def|class) )")
# Statements only code forms: compound ones need a colon and a body; simple ones ("return
# home", "global warming") parse from two words, so one of them alone is not enough.
_PY_COMPOUND = (
    ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.If, ast.For, ast.AsyncFor, ast.While,
    ast.With, ast.AsyncWith, ast.Try, ast.Match,
)  # fmt: skip
_PY_SIMPLE = (
    ast.Import, ast.Raise, ast.Return, ast.Assert, ast.Delete, ast.Global,
)  # fmt: skip
_PY_STATEMENT_START = re.compile(r"[A-Za-z_][\w.]*[ \t]*(?:[(\[]|(?::[^=\n]+)?=[^=])")
_PY_STARTS = ("def ", "class ", "import ", "from ", "@", "async ", "with ", "for ", "if ", "try:")
_PY_LINE_STARTS = ("\ndef ", " def ", "\nclass ", "\nimport ", "\nfrom ", "\n@", "    @")
_SQL_LOWER = re.compile(r"select(?<!\wselect)\s+(?:\*|[\w.]+(?:\s*,\s*[\w.]+)*)\s+from\s+\w+")

# --- language evidence --------------------------------------------------------------------
# Per language: whole words (case-sensitive, counted once per occurrence, capped at five) and
# literal substrings, each with a weight. Words that prose also uses ("for", "if", "from")
# are left out or kept light; shared syntax ("->", "::") is light everywhere it appears.


def _weights(spec: str) -> dict[str, float]:
    return {w: float(v) for w, v in (item.rsplit(":", 1) for item in spec.split())}


_JS_WORDS = (
    "const:2 let:0.5 var:1 function:2 console:3 require:2 undefined:2 document:2 window:1 "
    "prototype:2 typeof:2 null:0.5 module:1 exports:1 async:0.3 await:0.3 constructor:2 "
    "forEach:1.5"
)
_JS_LITERALS: dict[str, float] = {
    "=>": 2,
    "===": 3,
    "!==": 3,
    "console.log": 3,
    "});": 2,
    "();": 1,
    "this.": 1,
}
_FEATURES: dict[str, tuple[dict[str, float], dict[str, float]]] = {
    "python": (
        _weights(
            "def:3 elif:4 self:2 None:1.5 True:1 False:1 lambda:2 __init__:3 isinstance:2 "
            "kwargs:2 cls:1 except:2 raise:1.5 nonlocal:3 __name__:3 import:0.5 yield:1 "
            "assert:1 Optional:1 Any:1 dict:0.5 str:0.5 pass:0.5 print:1 len:1 enumerate:2 "
            "append:1 strip:0.5 range:0.5"
        ),
        {"self.": 2, '"""': 2, "):\n": 2, "->": 0.5, ":\n": 0.5, 'f"': 1, "encoding=": 2},
    ),
    "javascript": (_weights(_JS_WORDS), _JS_LITERALS),
    "typescript": (
        _weights(_JS_WORDS + " interface:2 readonly:3 implements:1 enum:1 keyof:3 unknown:1"),
        {
            **_JS_LITERALS,
            ": string": 3,
            ": number": 3,
            ": boolean": 3,
            ": any": 2,
            ": void": 3,
            "?: ": 2,
            "as const": 2,
            "<T>": 1,
        },
    ),
    "go": (
        _weights("func:4 package:2 fmt:3 nil:2 chan:3 defer:3 struct:1.5 err:1.5 range:0.5"),
        {":=": 3, "err != nil": 4, "package main": 4, "func (": 3, "[]string": 3, "fmt.": 2},
    ),
    "rust": (
        _weights(
            "mut:3 impl:3 pub:2 let:0.5 Some:1.5 Err:1 Vec:2 usize:3 u32:2 i32:2 u8:2 u64:2 "
            "i64:2 f64:2 "
            "crate:3 trait:2 mod:1 match:0.5"
        ),
        {
            "fn ": 4,
            "println!": 4,
            ".iter()": 2,
            "::<": 3,
            "::": 1,
            "&self": 4,
            "&mut ": 4,
            ".unwrap()": 4,
            "#[derive": 5,
            "vec!": 4,
            "fn main()": 4,
            "&str": 3,
            ".expect(": 3,
            "Vec<": 2,
            "-> ": 0.5,
        },
    ),
    "java": (
        _weights(
            "public:1.5 private:1 protected:1.5 static:1 void:1.5 extends:1 implements:2 "
            "final:1 throws:3 Override:2 boolean:1.5 new:0.5 String:1 Optional:1 List:1 "
            "ArrayList:2 HashMap:2 Integer:1 IOException:3 catch:1"
        ),
        {
            "System.out": 4,
            "@Override": 4,
            "String[]": 3,
            "public static void main": 5,
            ";\n": 0.3,
            "!= null": 2,
        },
    ),
    "c": (
        _weights(
            "include:1.5 int:1 char:1.5 void:1 printf:3 malloc:3 free:1 sizeof:3 struct:1.5 "
            "typedef:3 unsigned:2 NULL:2 define:1 size_t:3"
        ),
        {"#include <": 3, ".h>": 3, "->": 0.5, ";\n": 0.3, "int main(": 3, "char *": 2},
    ),
    "cpp": (
        _weights(
            "std:2 cout:4 cin:3 endl:4 template:3 typename:3 namespace:2 nullptr:4 auto:1 "
            "virtual:2 include:1 vector:2 override:1 int:0.5 void:0.5"
        ),
        {
            "std::": 2,
            "::": 1,
            "#include <iostream>": 5,
            "<<": 1.5,
            "public:": 3,
            "private:": 3,
            ";\n": 0.3,
        },
    ),
    "shell": (
        _weights(
            "echo:3 fi:4 esac:4 done:2 then:1 export:2 sudo:4 apt:3 pip:1.5 npm:2 cd:2 ls:2 "
            "mkdir:3 rm:2 chmod:4 grep:3 curl:3 wget:3 awk:3 sed:2 xargs:3 bash:2 docker:2 "
            "kubectl:3"
        ),
        {
            "#!/bin/": 6,
            "$(": 3,
            "${": 2,
            " | ": 1,
            "&&": 1,
            "2>&1": 4,
            "/dev/null": 3,
            "; then": 4,
            "; do": 4,
            "\n$ ": 2,
        },
    ),
    "sql": (
        _weights(
            "SELECT:4 FROM:2 WHERE:3 INSERT:4 INTO:2 VALUES:3 UPDATE:3 DELETE:3 CREATE:2 "
            "TABLE:3 JOIN:3 GROUP:2 ORDER:2 PRIMARY:3 VARCHAR:4 INTEGER:2 NULL:1 INDEX:2 "
            "LIMIT:2 HAVING:3 DISTINCT:3 ALTER:3 varchar:4"
        ),
        {"GROUP BY": 2, "ORDER BY": 2, "NOT NULL": 2, ");\n": 0.5},
    ),
}
_WORD_INDEX: dict[str, list[tuple[str, float]]] = {}
_LITERAL_INDEX: dict[str, list[tuple[str, float]]] = {}
for _language, (_words, _literals) in _FEATURES.items():
    for _word, _weight in _words.items():
        _WORD_INDEX.setdefault(_word, []).append((_language, _weight))
    for _literal, _weight in _literals.items():
        _LITERAL_INDEX.setdefault(_literal, []).append((_language, _weight))
_FENCE_ALIASES = {
    **dict.fromkeys(("py", "python3", "py3", "ipython", "pycon"), "python"),
    **dict.fromkeys(("js", "jsx", "node", "mjs", "cjs"), "javascript"),
    **dict.fromkeys(("ts", "tsx"), "typescript"),
    "golang": "go",
    "rs": "rust",
    "h": "c",
    **dict.fromkeys(("c++", "cc", "cxx", "hpp", "hxx"), "cpp"),
    **dict.fromkeys(
        ("sh", "bash", "zsh", "ksh", "console", "shell-session", "shellsession"), "shell"
    ),
    **dict.fromkeys(("postgres", "postgresql", "mysql", "sqlite", "plsql", "tsql"), "sql"),
    **dict.fromkeys(("jsonl", "json5", "jsonc"), "json"),
}
_STOPWORD_TEXT = (
    "the of and to in is a that for it as was with by on are be this an which or from at "
    "has have not were its their also his been more can they but he"
)
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())


@dataclass(frozen=True, slots=True)
class Segment:
    """A piece of a markdown text: prose (``text``) or the body of a fenced ``code`` block.

    ``fence_open`` is the opening fence line with its newline, ``fence_close`` the closing one
    (empty when the block runs to the end); ``raw`` is the exact source of the piece and
    ``start``/``end`` its offsets in the input.
    """

    kind: Literal["text", "code"]
    text: str
    language: str | None
    fence_open: str
    fence_close: str
    start: int
    end: int

    @property
    def raw(self) -> str:
        """The exact input text this segment came from."""
        return self.fence_open + self.text + self.fence_close


def split_fences(text: str) -> list[Segment]:
    """Split markdown into prose and fenced code (```` ``` ```` or ``~~~``), losslessly.

    Follows CommonMark: a fence is three or more backticks or tildes indented at most three
    spaces; it closes on a line of the same character at least as long, or at the end of input.
    ``"".join(s.raw for s in split_fences(t)) == t`` for every ``t``.
    """
    lines = text.splitlines(keepends=True)
    segments: list[Segment] = []
    pos = text_start = 0
    i = 0
    while i < len(lines):
        line = lines[i]
        opener = _FENCE_OPEN.fullmatch(line.rstrip("\r\n"))
        if opener is None or (opener.group(1)[0] == "`" and "`" in opener.group(2)):
            pos += len(line)
            i += 1
            continue
        if pos > text_start:
            segments.append(_text(text, text_start, pos))
        fence = opener.group(1)
        j = i + 1
        while j < len(lines) and not _closes(lines[j], fence):
            j += 1
        body = "".join(lines[i + 1 : j])
        close = lines[j] if j < len(lines) else ""
        end = pos + len(line) + len(body) + len(close)
        language = _fence_language(opener.group(2))
        segments.append(Segment("code", body, language, line, close, pos, end))
        pos = text_start = end
        i = j + 1
    if len(text) > text_start:
        segments.append(_text(text, text_start, len(text)))
    return segments


def _text(source: str, start: int, end: int) -> Segment:
    return Segment("text", source[start:end], None, "", "", start, end)


def _closes(line: str, fence: str) -> bool:
    m = _FENCE_CLOSE.fullmatch(line.rstrip("\r\n"))
    return m is not None and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence)


def _fence_language(info: str) -> str | None:
    word = info.strip().split(maxsplit=1)[0] if info.strip() else ""
    word = word.strip("{}.").lower()
    if not word:
        return None
    return _FENCE_ALIASES.get(word, word)


def detect_language(code: str) -> str | None:
    """Best-guess programming language of ``code``, or None when nothing looks like code.

    Knows python, javascript, typescript, go, rust, java, c, cpp, shell and sql.
    """
    scores = _language_scores(code[:_SAMPLE])
    best = max(scores, key=scores.__getitem__)
    return best if scores[best] >= 4.0 else None


def _language_scores(sample: str, python_parses: bool | None = None) -> dict[str, float]:
    words = Counter(_WORD.findall(sample))
    scores = dict.fromkeys(_FEATURES, 0.0)
    # Only the feature words present are visited; each literal is counted once for all.
    for word in words.keys() & _WORD_INDEX.keys():
        count = min(words[word], 5)
        for language, weight in _WORD_INDEX[word]:
            scores[language] += weight * count
    for literal, users in _LITERAL_INDEX.items():
        count = sample.count(literal)
        if count:
            for language, weight in users:
                scores[language] += weight * min(count, 5)
    if "select" in sample and _SQL_LOWER.search(sample):
        scores["sql"] += 8.0
    # A typed superset wins only on its own evidence: JS keywords count for both.
    if scores["typescript"] - scores["javascript"] < 3.0:
        scores["typescript"] = min(scores["typescript"], scores["javascript"] - 0.5)
    if scores["cpp"] - scores["c"] < 3.0:
        scores["cpp"] = min(scores["cpp"], scores["c"] - 0.5)
    if python_parses if python_parses is not None else _parses_as_python(sample):
        scores["python"] += 10.0
    return scores


def _parses_as_python(sample: str) -> bool:
    """``ast.parse`` success, tried only when a line opens Python-like (``Paris`` parses too).

    Parsing costs more than all the counting, so cheap substring checks gate it.
    """
    if not _python_like(sample):
        return False
    try:
        ast.parse(textwrap.dedent(sample))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


def _python_like(sample: str) -> bool:
    head = sample.lstrip()
    return head.startswith(_PY_STARTS) or any(k in sample for k in _PY_LINE_STARTS)


def detect(text: str) -> Domain:
    """Classify ``text`` as json, log, mixed (markdown prose with fenced code), code or prose.

    Test-runner and CI output count as logs; chat transcripts (``Name: text`` lines) as prose.
    """
    stripped = text.strip()
    if not stripped:
        return Domain(kind="prose", confidence=0.0)
    as_json = _json_confidence(stripped)
    if as_json:
        return Domain(kind="json", confidence=as_json)
    head = _head(text)
    if head.shebang:
        return Domain(kind="code", language=head.shebang, confidence=0.95)
    body = text[head.start : head.start + _SAMPLE]
    body = body if body.strip() else text[:_SAMPLE]
    module = _python_module(text, head, body)
    if module == "python":
        return Domain(kind="code", language="python", confidence=0.97)
    if module == "data" or (head.comments >= 2 and not _NON_SPACE.search(text, head.start)):
        # Only comments, or only `NAME = "value"` lines (Python constants, TOML): code, of no
        # one language unless keywords name it; the structural engine then touches whitespace.
        keywords = _code_or_prose(text[:_SAMPLE], False)
        return keywords if keywords.language == "python" else Domain(kind="code", confidence=0.8)
    if ("```" in text or "~~~" in text) and not head.python:
        fenced = _fenced_domain(text)
        if fenced is not None:
            return fenced
    sample = text[:_SAMPLE]
    log_share = 0.0 if head.python else _log_share(sample)
    if log_share and _share(_SPEAKER_LINE, sample) < 0.5:
        return Domain(kind="log", confidence=round(0.5 + log_share / 2, 3))
    # A failed parse of the whole text settles the sample too, when the sample is all of it.
    parses = False if module == "failed" and len(text) <= _SAMPLE else None
    found = _code_or_prose(body, parses, "python" if head.python else None)
    if found.kind == "prose" and head.start:
        # Comments opened the text but what follows reads as prose: judge it with its comments.
        whole = _code_or_prose(sample, parses)
        return whole if whole.kind == "code" else found
    return found


@dataclass(frozen=True, slots=True)
class _Head:
    """How a source file opens: where its code starts and what the opening says about it."""

    start: int  # first line after the shebang, comment lines, block comments and docstring
    shebang: str | None  # the language of the interpreter a shebang names
    python: bool  # an encoding cookie or a module docstring was seen
    comments: int  # comment lines and block comments seen


def _head(text: str) -> _Head:
    pos, shebang, python, docstring, comments = 0, None, False, False, 0
    first = _SHEBANG.match(text)
    if first is not None:
        shebang = _interpreter(first.group(1), first.group(2))
        pos = _line_end(text, 0)
    limit = min(len(text), 50_000)  # a preamble longer than this is not one
    while pos < limit:
        end = _line_end(text, pos)
        line = text[pos:end]
        if not line.strip():
            pos = end
        elif _COMMENT_LINE.match(line):
            python = python or _COOKIE.match(line) is not None
            pos, comments = end, comments + 1
        elif line.lstrip().startswith("/*"):
            close = text.find("*/", pos + line.index("/*") + 2)
            if close < 0:
                break
            pos, comments = close + 2, comments + 1
        elif not docstring and (quote := _DOCSTRING_OPEN.match(line)) is not None:
            close = text.find(quote.group(1), pos + quote.end())
            if close < 0:
                break
            pos, python, docstring = close + 3, True, True
        else:
            break
    return _Head(pos, shebang, python, comments)


def _line_end(text: str, pos: int) -> int:
    end = text.find("\n", pos)
    return len(text) if end < 0 else end + 1


def _interpreter(program: str, argument: str | None) -> str | None:
    name = program.rsplit("/", 1)[-1]
    if name == "env":
        name = argument or ""
    name = name.lower().rstrip("0123456789.")
    if name.startswith(("python", "pypy")):
        return "python"
    if name in ("ruby", "perl", "php", "lua", "awk", "tcl", "rscript"):
        return "r" if name == "rscript" else name
    return _INTERPRETERS.get(name)


def _python_module(text: str, head: _Head, body: str) -> str | None:
    """``"python"`` when ``text`` parses as a Python module with real code in it, ``"data"`` when
    it parses as assignments of plain values only, ``"failed"`` when it does not parse; None
    when not tried or when it parses as something else (a bare name, TOML's ``[table]``).

    Long text is cut before its last top-level statement within ``_PARSE_LIMIT`` characters of
    the end of its preamble (a long docstring is one token: cheap to parse); when that cut falls
    inside a string, once more before the statement the parser stopped in.
    """
    if not (head.python or _python_like(body) or _PY_STATEMENT_START.match(body.lstrip())):
        return None
    src = text.removeprefix("\ufeff")
    cut = len(src) > head.start + _PARSE_LIMIT
    if cut:
        end = _statement_before(src, head.start, head.start + _PARSE_LIMIT)
        if end is None:
            return None
        src = src[:end]
    if src.lstrip("\n")[:1] in (" ", "\t"):
        src = textwrap.dedent(src)
    tree = _parse(src)
    if isinstance(tree, SyntaxError) and cut and tree.lineno:
        stop = 0
        for _ in range(tree.lineno - 1):
            stop = src.find("\n", stop) + 1
        end = _statement_before(src, head.start, stop)
        tree = _parse(src[:end]) if end else tree
    if not isinstance(tree, ast.Module):
        return "failed"
    return _module_kind(tree.body, head.python)


def _statement_before(src: str, start: int, limit: int) -> int | None:
    for pattern in (_PY_DEF_LEVEL, _PY_TOP_LEVEL):
        found = None
        for found in pattern.finditer(src, start, limit):  # noqa: B007 (the last one counts)
            pass
        if found is not None:
            return found.start()
    return None


def _parse(src: str) -> ast.Module | SyntaxError | None:
    try:
        return ast.parse(src)
    except SyntaxError as exc:
        return exc
    except (ValueError, RecursionError, MemoryError):
        return None


def _module_kind(body: list[ast.stmt], opened_as_python: bool) -> str | None:
    """Code, not words that happen to parse (``Paris``, ``global warming``, ``key = true``)."""
    if body and _is_str_expr(body[0]):
        body = body[1:]
    for stmt in body:
        # A bare name, list or number is never a statement of a real module: prose or TOML.
        if isinstance(stmt, ast.Expr) and not (
            _is_str_expr(stmt) or isinstance(stmt.value, ast.Call | ast.Await)
        ):
            return None
    if opened_as_python or any(_python_statement(s) for s in body):
        return "python"
    if len(body) >= 2 and any(isinstance(s, _PY_SIMPLE) for s in body):
        return "python"
    if body and all(isinstance(s, ast.Assign) for s in body):
        return "data"
    return None


def _python_statement(stmt: ast.stmt) -> bool:
    """A statement prose or a config file does not form: a block, an import, a method call
    (``Paris (France)`` is a call too), ``raise E(...)``, an assignment only Python writes."""
    if isinstance(stmt, _PY_COMPOUND) or _python_import(stmt) or _python_assignment(stmt):
        return True
    if isinstance(stmt, ast.Raise):
        return isinstance(stmt.exc, ast.Call)
    return isinstance(stmt, ast.Expr) and _method_call(stmt.value)


def _python_import(stmt: ast.stmt) -> bool:
    """``from x import y``, ``import a.b``, ``import a as b``: not two words of prose."""
    if isinstance(stmt, ast.ImportFrom):
        return True
    return isinstance(stmt, ast.Import) and any(a.asname or "." in a.name for a in stmt.names)


def _method_call(node: ast.expr) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute | ast.Call)


def _is_str_expr(stmt: ast.stmt) -> bool:
    return (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Constant)
        and isinstance(stmt.value.value, str)
    )


def _python_assignment(stmt: ast.stmt) -> bool:
    """An assignment only Python writes: to a dunder, or of a call, attribute, None/True/False."""
    if isinstance(stmt, ast.AugAssign) or (isinstance(stmt, ast.AnnAssign) and stmt.value):
        return True
    if not isinstance(stmt, ast.Assign):
        return False
    if any(isinstance(t, ast.Name) and t.id.startswith("__") for t in stmt.targets):
        return True
    return not _data_like(stmt.value)


def _data_like(node: ast.expr) -> bool:
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.Name):
        return node.id not in ("None", "True", "False")
    if isinstance(node, ast.UnaryOp):
        return isinstance(node.operand, ast.Constant)
    if isinstance(node, ast.List):
        return all(_data_like(e) for e in node.elts)
    if isinstance(node, ast.Dict):  # {mode: 'production'}: a JS object literal parses too
        return not node.keys or any(isinstance(k, ast.Name) for k in node.keys)
    return False


def _json_confidence(stripped: str) -> float:
    if stripped[0] not in "{[":
        return 0.0
    try:
        whole = json.loads(stripped)
    except ValueError:
        whole = None
    else:
        return 1.0 if isinstance(whole, dict | list) else 0.0
    lines = [line for line in stripped.splitlines() if line.strip()]
    if len(lines) < 2 or any(line.lstrip()[0] not in "{[" for line in lines):
        return 0.0
    try:
        for line in lines:
            json.loads(line)
    except ValueError:
        return 0.0
    return 0.95  # JSON Lines


def _fenced_domain(text: str) -> Domain | None:
    segments = split_fences(text)
    code = [s for s in segments if s.kind == "code"]
    if not code:
        return None
    prose = "".join(s.text for s in segments if s.kind == "text").strip()
    languages = Counter(s.language or detect_language(s.text) for s in code)
    languages.pop(None, None)
    language = languages.most_common(1)[0][0] if languages else None
    if prose:
        return Domain(kind="mixed", language=language, confidence=0.9)
    if language == "json" or (len(code) == 1 and _json_confidence(code[0].text.strip())):
        return Domain(kind="json", confidence=0.9)
    if language is None:
        return None  # fences around plain text: judge the content as it is
    return Domain(kind="code", language=language, confidence=0.95)


def _log_share(sample: str) -> float:
    """Share of log-like lines, or 0.0 below the bar: half of the lines, or a quarter when a
    test runner's own marker (``===== FAILURES``, ``test result:``, ``--- FAIL:``) is there."""
    lines = sum(1 for line in sample.splitlines() if line.strip())
    if not lines:
        return 0.0
    hits = len(_LOG_OR_RUNNER.findall(sample))
    if hits < min(2, lines):
        return 0.0
    share = min(1.0, hits / lines)
    if share >= 0.5 or (share >= 0.25 and _RUNNER_SIGNATURE.search(sample)):
        return share
    return 0.0


def _share(pattern: re.Pattern[str], sample: str) -> float:
    lines = sum(1 for line in sample.splitlines() if line.strip())
    return len(pattern.findall(sample)) / lines if lines else 0.0


def _code_or_prose(
    sample: str, python_parses: bool | None = None, hint: str | None = None
) -> Domain:
    scores = _language_scores(sample, python_parses)
    if hint:
        scores[hint] += 6.0  # a module docstring or an encoding cookie opened the text
    ranked = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)
    (language, score), runner_up = ranked[0], ranked[1][1]
    shape = _code_shape(sample)
    # Keywords and layout must agree: prose mentions "import" and "class" and "System" too.
    strong = (score >= 15.0 and shape >= 0.25) or (score >= 6.0 and shape >= 0.35)
    if strong or (score >= 4.0 and shape >= 0.6):
        margin = (score - runner_up) / score
        strength = min(1.0, score / 20.0) * 0.5 + shape * 0.5
        confidence = round((0.5 + strength / 2) * (0.8 + 0.2 * margin), 3)
        return Domain(kind="code", language=language, confidence=confidence)
    evidence = min(1.0, score / 20.0) * 0.5 + shape * 0.5
    return Domain(kind="prose", confidence=round(1.0 - evidence / 2, 3))


def _code_shape(sample: str) -> float:
    """0..1: how much the layout looks like code (line endings, indentation, few stopwords)."""
    lines = [line for line in sample.splitlines() if line.strip()]
    if not lines:
        return 0.0
    codeish = sum(
        1 for line in lines if line.rstrip()[-1] in ";{}()[]:,\\" or line[:1] in " \t#/@}$<"
    )
    words = sample.lower().split()
    stop_share = sum(1 for w in words if w in _STOPWORDS) / max(1, len(words))
    symbols = sum(sample.count(c) for c in "{}[]();=<>_") / max(1, len(sample))
    line_part = codeish / len(lines)
    prose_part = max(0.0, 1.0 - stop_share / 0.25)  # prose runs about 25-30% stopwords
    symbol_part = min(1.0, symbols / 0.05)
    return (line_part + prose_part + symbol_part) / 3
