"""Which log lines must survive a lossy pass: errors, warnings, failures, stack-trace heads.

Everything here scans the whole text with literal-led searches (a keyword found by ``str.find``
on the lower-cased text, then its case and word boundaries checked; line-start patterns led by
``\\n``), so the cost per megabyte stays a few milliseconds however many lines there are. Per
line, Python only runs for the lines a search hit.

A line is *important* when it carries:

* a level or failure word as a word: ``ERROR``, ``WARN``, ``WARNING``, ``FATAL``, ``CRITICAL``,
  ``SEVERE``, ``PANIC``, ``EMERG``, ``ERR!`` (npm), ``FAIL``/``FAILED``/``failure``, ``panic``,
  ``panicked``, ``exception``, in upper, capitalised or lower case (``"level":"error"`` too);
* an exception or error class: ``ValueError``, ``NullPointerException``, ``DeprecationWarning``;
* ``Traceback (most recent call last)``;
* an HTTP 5xx status (``" 503 `` in an access log, ``status=502``, ``"status":500``);
* a non-zero exit code (``exit code 2``, ``exited with code 137``, ``exit status 1``);
* a test runner's failure, assertion or summary line (pytest ``E  `` / ``>  `` / ``FAILED``
  lines and ``___ name ___`` headers, jest ``✕`` / ``●`` / ``Expected:`` / ``Received:``,
  mocha ``N failing``, cargo ``---- name stdout ----`` / ``panicked at`` / ``left:`` / ``right:``,
  go ``--- FAIL:`` / ``x_test.go:12:``, and each runner's summary line);
* a glog level prefix ``E0314`` / ``F0314`` / ``W0314``.

Stack traces: the frames after such a line (``at ...``, ``File "..."`` and its code line,
``... 8 more``, numbered Rust frames) form a block with it; the exception line that closes a
Python traceback and every ``Caused by:`` line are important too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# Keyword (lower case) -> the word forms that count, as (form, how): "word" = a whole word in
# any case that is all-lower, all-upper or capitalised; "upper" = a whole word in upper case
# only; "suffix" also accepts the capitalised form glued to a class name (ValueError).
_KEYWORDS: dict[str, tuple[tuple[str, str], ...]] = {
    "err": (("error", "suffix"), ("err", "upper")),
    "warn": (("warning", "suffix"), ("warn", "word")),
    "fatal": (("fatal", "word"),),
    "crit": (("critical", "word"), ("crit", "upper")),
    "panic": (("panicked", "word"), ("panic", "word")),
    "fail": (
        ("failures", "word"),
        ("failure", "suffix"),
        ("failed", "word"),
        ("failing", "word"),
        ("fail", "word"),
    ),
    "exception": (("exception", "suffix"),),
    "severe": (("severe", "upper"),),
    "emerg": (("emerg", "upper"),),
}
_WORD_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")

# Findings that depend on a value (a status, an exit code): literal-led patterns.
_VALUE_SIGNALS = (
    re.compile(r'" 5\d\d[ \n]'),  # access log: "GET / HTTP/1.1" 502 ...
    re.compile(r'status(?:_code|Code)?"?\s?[=:]\s?"?5\d\d\b'),
    re.compile(r"exit(?:ed with| with)?(?: code| status|_code|Code)\W{0,3}-?[1-9]"),
    re.compile(r"Traceback \(most recent call last\)"),
)

# Line starts of test-runner failures, assertions and summaries (and glog levels).
_LINE_SIGNALS = re.compile(
    r"\n(?:"
    r"[ \t]+(?:"  # indented
    r"[✕✗×●]|(?:Expected|Received)[\w ]*:|expect\(|> \d+ \||\d+ (?:failing|passing|pending)\b"
    r"|\d+\) \S|[+-] expected\b|left: |right: |--- FAIL: |\w+_test\.go:\d+: "
    r")"
    r"|E  |>  |FAILED |_{3,} .+ _{3,}\r?$"  # pytest
    r"|=+ (?:FAILURES|ERRORS|short test summary info) =+"
    r"|=+ .*\b(?:passed|failed|errors?|skipped|xfailed|deselected|no tests ran)\b.* =+\r?$"
    r"|[✕✗×●]|Tests?:[ \t]|Test Suites:[ \t]|\d+ (?:failing|passing|pending)\b"  # jest, mocha
    r"|---- .+ ----\r?$|thread '.*' panicked at|left: |right: |test result: "  # cargo
    r"|--- FAIL: |ok[ \t]+\S+[ \t]+\d|panic: "  # go
    r"|[EFW]\d{4} \d\d:\d\d"  # glog
    r")",
    re.MULTILINE,
)

# Stack-trace frames: lines that continue the block of the important line above them.
_FRAME = re.compile(
    r"\s+at |\s+File \"|\s*\.\.\. \d+ (?:more|common frames)|\s+\d+: \S|\s+/\S+\.\w+:\d+"
    r"|goroutine \d+ \[|\s+from \S|\S+\(.*\)$"
)
_CONTINUES = re.compile(
    r"Caused by: |During handling of the above|The above exception was|Suppressed: |\s*\^+$"
)


@dataclass
class Signals:
    """What :func:`find` saw: important line numbers (0-based), stack-trace frames, runner."""

    important: set[int] = field(default_factory=set)
    frames: dict[int, list[int]] = field(default_factory=dict)
    runner: str | None = None


def find(text: str, lines: list[str]) -> Signals:
    """Important lines of ``text`` (split into ``lines`` by ``\\n``) and their trace blocks."""
    hits: set[int] = set()
    positions: list[int] = []
    lowered = text.lower()
    if len(lowered) == len(text):
        for needle, forms in _KEYWORDS.items():
            positions.extend(_keyword_hits(text, lowered, needle, forms))
    else:  # a character whose lower case is longer: search the original, case by case
        for needle, forms in _KEYWORDS.items():
            for variant in {needle, needle.upper(), needle.capitalize()}:
                positions.extend(_keyword_hits(text, text, variant, forms))
    for pattern in _VALUE_SIGNALS:
        positions.extend(m.start() for m in pattern.finditer(text))
    hits.update(_line_numbers(text, positions))
    first = "\n" + lines[0] if lines else ""
    if first and _LINE_SIGNALS.match(first):
        hits.add(0)
    starts = [m.start() + 1 for m in _LINE_SIGNALS.finditer(text)]
    hits.update(_line_numbers(text, starts))
    hits = {i for i in hits if i < len(lines) and lines[i].strip()}
    signals = Signals(important=hits, runner=detect_runner(text))
    _blocks(lines, signals)
    return signals


def _keyword_hits(
    text: str,
    haystack: str,
    needle: str,
    forms: tuple[tuple[str, str], ...],
) -> list[int]:
    found = []
    pos = haystack.find(needle)
    while pos != -1:
        if _word_at(text, pos, forms):
            found.append(pos)
        pos = haystack.find(needle, pos + len(needle))
    return found


def _word_at(text: str, pos: int, forms: tuple[tuple[str, str], ...]) -> bool:
    for form, how in forms:
        word = text[pos : pos + len(form)]
        if word.lower() != form:
            continue
        after = text[pos + len(form) : pos + len(form) + 1]
        if after and after in _WORD_CHARS:
            continue
        glued = pos > 0 and text[pos - 1] in _WORD_CHARS
        if how == "upper":
            if word.isupper() and not glued:
                return True
            continue
        capital = word[0].isupper() and word[1:].islower()
        if glued:
            if how == "suffix" and capital and text[pos - 1] != "_":
                return True
            continue
        if word.islower() or word.isupper() or capital:
            return True
    return False


def _line_numbers(text: str, positions: list[int]) -> list[int]:
    """0-based line numbers of character positions (one forward count over the text)."""
    out = []
    line, last = 0, 0
    for pos in sorted(positions):
        line += text.count("\n", last, pos)
        last = pos
        out.append(line)
    return out


def _blocks(lines: list[str], signals: Signals) -> None:
    """Attach the stack-trace frames that follow each important line to it."""
    important = signals.important
    n = len(lines)
    framed: set[int] = set()
    for start in sorted(important):
        if start in framed:
            continue
        frames: list[int] = []
        traceback = "Traceback (most recent call last)" in lines[start]
        i = start + 1
        while i < n:
            line = lines[i]
            if _FRAME.match(line):
                frames.append(i)
                if line.lstrip().startswith('File "') and i + 1 < n and _deeper(lines[i + 1], line):
                    frames.append(i + 1)  # the source line of a Python frame
                    i += 1
            elif _CONTINUES.match(line) or i in important:
                important.add(i)
                traceback = traceback or "Traceback (most recent call last)" in line
            elif traceback and frames and line.strip() and not line[:1].isspace():
                important.add(i)  # the exception line that closes a Python traceback
                traceback = False
            else:
                break
            i += 1
        framed.update(range(start, i))
        if frames:
            signals.frames[start] = frames


def frame_runs(lines: list[str], frames: list[int]) -> list[list[list[int]]]:
    """``frames`` as runs of consecutive lines, each run as units (a frame and its source line)."""
    runs: list[list[list[int]]] = []
    for i in frames:
        if runs and i == runs[-1][-1][-1] + 1:
            if _FRAME.match(lines[i]):
                runs[-1].append([i])
            else:
                runs[-1][-1].append(i)  # the source line under a Python frame
        else:
            runs.append([[i]])
    return runs


def _deeper(line: str, frame: str) -> bool:
    indent = len(line) - len(line.lstrip())
    return bool(line.strip()) and indent > len(frame) - len(frame.lstrip())


_RUNNERS = (
    (
        "pytest",
        re.compile(r"=+ test session starts =+|::\w+ (?:PASSED|FAILED)|=+ \d+ (?:passed|failed)"),
    ),
    ("jest", re.compile(r"^Test Suites: |^Tests: +\d", re.MULTILINE)),
    ("mocha", re.compile(r"^\s+\d+ passing \(", re.MULTILINE)),
    ("cargo", re.compile(r"^test result: |^running \d+ tests?$", re.MULTILINE)),
    ("go", re.compile(r"^(?:=== RUN|--- (?:PASS|FAIL):) ", re.MULTILINE)),
)


def detect_runner(text: str) -> str | None:
    """``pytest``, ``jest``, ``mocha``, ``cargo`` or ``go`` when ``text`` is test-runner output."""
    head, tail = text[:20000], text[-20000:]
    for name, pattern in _RUNNERS:
        if pattern.search(head) or pattern.search(tail):
            return name
    return None
