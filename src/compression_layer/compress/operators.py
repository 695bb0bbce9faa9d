"""Meaning operators: the small words whose loss changes what a sentence asserts.

"The committee did not approve the merger" and "committee approve merger" share every fact and
most of their embedding, yet say opposite things. The fact guard (:mod:`facts`) cannot see that,
so this module protects a second kind of span beside facts:

- ``negation``: not, n't contractions, never, no, none, nothing, nobody, neither, nor, without, ...
- ``modality``: may, might, must, should, could, can, would, shall, ought, and hedges (maybe,
  perhaps, probably, possibly, likely, unlikely);
- ``condition``: if, unless, except, otherwise, until, provided that, only if, ...
- ``comparison``: ``<comparative> than`` (more than, less than, fewer than, older than ...),
  at least, at most, up to / over / under / about / nearly + a number, only, exactly, ...;
- ``question``: the question mark.

The list was chosen from data (``bench/meaning.py`` prints the table): words of those classes
that occur in the held-out QA contexts and LoCoMo turns and that the teacher pairs dropped,
minus the ones whose removal only shifts tense or emphasis (``will``, ``very``, ``just``).

``missing`` compares *counts* per operator key, not presence: a text with five negations that
keeps four has lost one, and a presence check would call it clean.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections import Counter
from typing import NamedTuple

KINDS: tuple[str, ...] = ("negation", "modality", "condition", "comparison", "question")

_APOS = "['’]"
_NUMBER_WORD = (
    r"(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty"
    r"|fifty|sixty|seventy|eighty|ninety|hundred|thousand|million|billion|half|a\s+(?:dozen"
    r"|hundred|thousand|million|third|quarter|half))"
)
# A number right after the operator: digits (optionally after a currency sign) or a number word.
_NUMBER_AHEAD = rf"(?=\s+(?:[$€£¥₹]\s?)?(?:\d|{_NUMBER_WORD}\b))"
_COMPARATIVE = (
    r"(?:more|less|fewer|greater|higher|lower|larger|smaller|bigger|better|worse|older|younger"
    r"|earlier|later|longer|shorter|faster|slower|rather|other|[a-z]{2,}er)"
)

# (kind, pattern): alternatives are tried longest first at each position by ordering phrases
# before the single words they contain.
_PATTERNS: tuple[tuple[str, str], ...] = (
    ("comparison", r"no\s+(?:more|less|fewer|later|earlier)\s+than"),
    ("comparison", r"not\s+(?:more|less|fewer)\s+than"),
    ("negation", r"no\s+longer|not\s+yet|no\s+one"),
    ("condition", r"only\s+if|provided\s+that|as\s+long\s+as|even\s+if|except\s+(?:for|when|if)"),
    ("comparison", rf"{_COMPARATIVE}\s+than"),
    ("comparison", r"at\s+(?:least|most)|as\s+(?:many|much|few|little)\s+as"),
    (
        "comparison",
        rf"(?:up\s+to|over|under|above|below|about|around|nearly|almost|roughly|approximately"
        rf"|exceeding|within|just\s+over|just\s+under|some){_NUMBER_AHEAD}",
    ),
    ("comparison", r"than|only|exactly|approximately|solely|merely"),
    ("negation", rf"\w+n{_APOS}t|cannot|not|never|no|none|nothing|nobody|nowhere|neither|nor"),
    ("negation", r"without|lack(?:s|ed|ing)?|fail(?:s|ed)?\s+to"),
    ("modality", r"may|might|must|should|could|can|would|shall|ought"),
    ("modality", r"maybe|perhaps|probably|possibly|likely|unlikely|allegedly|reportedly"),
    ("condition", r"if|unless|except|excluding|otherwise|until|whether"),
)
_REGEX = re.compile(
    "|".join(
        rf"(?P<{kind}__{i}>(?<![\w'’-])(?:{pattern})(?![\w'’-]))"
        for i, (kind, pattern) in enumerate(_PATTERNS)
    )
    + r"|(?P<question__q>\?)",
    re.IGNORECASE,
)
_SPACE = re.compile(r"\s+")
_MONTH_MAY = re.compile(r"May(?=\s+\d)|(?<=\d\s)May")


class Operator(NamedTuple):
    """One meaning operator of a source text: ``text == source[start:end]``."""

    kind: str
    key: str
    text: str
    start: int
    end: int


def _key(kind: str, text: str) -> str:
    low = _SPACE.sub(" ", text.lower()).replace("’", "'")
    if kind == "negation":
        if low.endswith("n't") or low == "cannot":
            return "not"
        if low.startswith("lack"):
            return "lack"
        if low.startswith("fail"):
            return "fail to"
    return low


def extract(text: str) -> list[Operator]:
    """Every operator of ``text``, in order, non-overlapping (the longest phrase wins)."""
    out: list[Operator] = []
    for m in _REGEX.finditer(text):
        group = m.lastgroup or ""
        kind = group.partition("__")[0]
        span = m.group()
        if span == "May" and _MONTH_MAY.match(text, m.start()):
            continue  # "May 2020" and "3 May" are dates, not modality
        if kind == "comparison" and span.lower() == "than" and out and out[-1].end == m.start():
            continue
        out.append(Operator(kind, _key(kind, span), span, m.start(), m.end()))
    return out


_QUANTITY_WORD = re.compile(rf"\s+{_NUMBER_WORD}\b", re.IGNORECASE)


def protected_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of every operator of ``text``.

    "over six series": an operator that only counts before a number carries a number word
    with it, since "over" without "six" is no longer a quantity (digits are facts already).
    """
    spans: list[tuple[int, int]] = []
    for op in extract(text):
        end = op.end
        if op.kind == "comparison" and (number := _QUANTITY_WORD.match(text, end)):
            end = number.end()
        spans.append((op.start, end))
    return spans


def counts(text: str) -> Counter[str]:
    """How often each operator key occurs in ``text``.

    A phrase also counts as each operator it is made of: dropping the words between "less water
    flow than" leaves "less than", and dropping those of "should only be started up if" leaves
    "only if"; both keep the operators they came from rather than lose one and add another.
    """
    found = Counter(op.key for op in extract(text))
    for key, n in list(found.items()):
        for part in _parts(key):
            found[part] += n
    return found


@functools.lru_cache(maxsize=256)
def _parts(key: str) -> tuple[str, ...]:
    """The operator keys among the words of a phrase key ("only if" -> "only", "if")."""
    if " " not in key:
        return ()
    return tuple(op.key for word in key.split() for op in extract(word) if op.key != key)


def missing(original: str, compressed: str) -> list[str]:
    """Operator keys that occur fewer times in ``compressed`` than in ``original``.

    In order of first appearance, one entry per key; an entry reads ``not`` when one was lost
    and ``not (x3)`` when three were.
    """
    before = counts(original)
    if not before:
        return []
    after = counts(compressed)
    out: list[str] = []
    for key, n in before.items():
        lost = n - after.get(key, 0)
        if lost > 0:
            out.append(key if lost == 1 else f"{key} (x{lost})")
    return out


def kept(original: str, compressed: str, kinds: tuple[str, ...] = KINDS) -> tuple[int, int]:
    """``(kept, total)`` operator occurrences of ``original`` (of ``kinds``) in ``compressed``.

    Occurrences are matched per key by count, as :func:`missing` does: two kept ``not`` cover
    at most two of the original's.
    """
    before = Counter(op.key for op in extract(original) if op.kind in kinds)
    after = counts(compressed)
    return sum(min(n, after.get(k, 0)) for k, n in before.items()), sum(before.values())


def sentences_with(original: str, keys: list[str]) -> list[str]:
    """The sentences of ``original`` that hold one of the (missing) operator ``keys``.

    The guard of the generative engines appends these verbatim: an operator alone ("not")
    means nothing out of its sentence.
    """
    wanted = {k.split(" (x", 1)[0] for k in keys}
    if not wanted:
        return []
    bounds = [0, *(m.end() for m in re.finditer(r"(?<=[.!?])\s+|\n+", original)), len(original)]
    ops = extract(original)
    picked: list[str] = []
    j = 0
    for lo, hi in itertools.pairwise(bounds):
        hit = False
        while j < len(ops) and ops[j].start < hi:
            hit = hit or (ops[j].start >= lo and ops[j].key in wanted)
            j += 1
        sentence = original[lo:hi].strip()
        if hit and sentence and sentence not in picked:
            picked.append(sentence)
    return picked
