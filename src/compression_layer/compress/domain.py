"""Domain detection: prose, code (with its language), mixed markdown, JSON or logs.

The pipeline routes on this, so it must be cheap: a few KB take well under a millisecond.
Everything is heuristic: JSON is parsed, logs (and test-runner or CI output) are recognised by
line prefixes, markdown fences are split exactly (:mod:`~compression_layer.compress.fences`),
languages are scored from keyword counts (:mod:`~compression_layer.compress.languages`), and
Python source is recognised whatever it opens with, a shebang, a licence header, an encoding
cookie or a module docstring, and confirmed by a parse
(:mod:`~compression_layer.compress.pysource`).
"""

from __future__ import annotations

import json
import re
from collections import Counter

from compression_layer.compress.fences import split_fences
from compression_layer.compress.languages import SAMPLE_CHARS, code_or_prose, detect_language
from compression_layer.compress.pysource import python_module, source_head
from compression_layer.compress.types import Domain

__all__ = ["detect"]

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
    head = source_head(text)
    if head.shebang:
        return Domain(kind="code", language=head.shebang, confidence=0.95)
    body = text[head.start : head.start + SAMPLE_CHARS]
    body = body if body.strip() else text[:SAMPLE_CHARS]
    module = python_module(text, head, body)
    if module == "python":
        return Domain(kind="code", language="python", confidence=0.97)
    if module == "data" or (head.comments >= 2 and not _NON_SPACE.search(text, head.start)):
        # Only comments, or only `NAME = "value"` lines (Python constants, TOML): code, of no
        # one language unless keywords name it; the structural engine then touches whitespace.
        keywords = code_or_prose(text[:SAMPLE_CHARS], False)
        return keywords if keywords.language == "python" else Domain(kind="code", confidence=0.8)
    if ("```" in text or "~~~" in text) and not head.python:
        fenced = _fenced_domain(text)
        if fenced is not None:
            return fenced
    sample = text[:SAMPLE_CHARS]
    log_share = 0.0 if head.python else _log_share(sample)
    if log_share and _share(_SPEAKER_LINE, sample) < 0.5:
        return Domain(kind="log", confidence=round(0.5 + log_share / 2, 3))
    # A failed parse of the whole text settles the sample too, when the sample is all of it.
    parses = False if module == "failed" and len(text) <= SAMPLE_CHARS else None
    found = code_or_prose(body, parses, "python" if head.python else None)
    if found.kind == "prose" and head.start:
        # Comments opened the text but what follows reads as prose: judge it with its comments.
        whole = code_or_prose(sample, parses)
        return whole if whole.kind == "code" else found
    return found


def _json_confidence(stripped: str) -> float:
    if not stripped or stripped[0] not in "{[":
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
    if len(code) == 1 and _json_confidence(code[0].text.strip()):
        return Domain(kind="json", confidence=0.9)
    if language == "json":  # tagged json that does not parse: the lenient code path, not an error
        return Domain(kind="code", language="json", confidence=0.8)
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
