"""Word units for the extractive engine: splitting, normalising, sentences and re-joining.

The engine and the label aligner must see the same words, so both go through :func:`split_units`.
A unit is a word (letters/digits with inner ``-``, ``'``, ``.``) or one punctuation character.
Whitespace is never a unit: it is carried in each unit's ``gap`` (the text before it) so that the
output can restore newlines and the exact spelling of facts made of several units.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

_UNIT_RE = re.compile(r"(?:[A-Za-z]\.){2,}|\w+(?:[-'’.,:/]\w+)*|[^\w\s]")
_LIST_MARKER_RE = re.compile(r"[ \t]*(?:[-*+•]|\d{1,3}[.)]|#{1,6}|>)(?=[ \t])")
_SENTENCE_END = frozenset({".", "!", "?", ";", "…"})
_SENTENCE_MARKS = frozenset({".", "!", "?"})

# English function words. Our own list: articles, pronouns, auxiliaries, prepositions,
# conjunctions and a few discourse fillers that carry no answerable content.
_STOPWORD_TEXT = """
a an the and or but nor so yet if then than that this these those there here
is am are was were be been being do does did doing have has had having will would shall should
can could may might must of in on at to for from by with about into onto over under between
through during before after above below up down out off again further once as until while
because since although though whereas whether which who whom whose what when where why how
i me my myself we our ours ourselves you your yours yourself yourselves he him his himself she
her hers herself it its itself they them their theirs themselves all any both each few more
most other some such no not only own same too very just also s t d ll m o re ve y
upon within without among along across around against toward towards via per
however therefore thus hence moreover furthermore indeed
"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())

NUMBER_WORDS = {
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "ten": "10",
    "first": "1st",
    "second": "2nd",
    "third": "3rd",
    "hundred": "100",
    "thousand": "1000",
    "million": "m",
    "billion": "b",
}


@dataclass(frozen=True)
class Unit:
    """One word or punctuation mark of the input, with the whitespace that precedes it."""

    text: str
    start: int
    end: int
    gap: str

    @property
    def is_word(self) -> bool:
        return any(ch.isalnum() for ch in self.text)


def split_units(text: str) -> list[Unit]:
    """Split ``text`` into word and punctuation units; concatenating gaps + texts rebuilds it."""
    units: list[Unit] = []
    pos = 0
    for match in _UNIT_RE.finditer(text):
        units.append(Unit(match.group(), match.start(), match.end(), text[pos : match.start()]))
        pos = match.end()
    return units


def normalise(word: str) -> str:
    """Lower-case, drop dots and apostrophes, and strip a few English suffixes."""
    w = word.lower().replace(".", "").replace("'", "").replace("’", "")
    w = NUMBER_WORDS.get(w, w)
    for suffix in ("ies", "es", "s"):
        if len(w) > 4 and w.endswith(suffix) and not w.endswith("ss"):
            return w[: -len(suffix)] + ("y" if suffix == "ies" else "")
    return w


# Spelled-out cardinals a text counts with; ordinals ("first", "second") are left out: they
# mostly order events rather than count things.
_COUNT_WORDS = frozenset(
    [
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "ten",
        "eleven",
        "twelve",
        "thirteen",
        "fourteen",
        "fifteen",
        "sixteen",
        "seventeen",
        "eighteen",
        "nineteen",
        "twenty",
        "thirty",
        "forty",
        "fifty",
        "sixty",
        "seventy",
        "eighty",
        "ninety",
        "hundred",
        "hundreds",
        "thousand",
        "thousands",
        "million",
        "millions",
        "billion",
        "billions",
        "trillion",
        "dozen",
        "dozens",
    ]
)


def is_number_word(word: str) -> bool:
    """True for a spelled-out count or scale ("two", "million", "dozens"), any case."""
    return word.lower() in _COUNT_WORDS


def is_stopword(word: str) -> bool:
    """True for English function words (case-insensitive)."""
    return word.lower() in STOPWORDS


def sentence_ids(units: list[Unit]) -> list[int]:
    """Sentence index of each unit: a sentence ends at ``. ! ? ;`` before a space, or a newline."""
    ids: list[int] = []
    current = 0
    for i, unit in enumerate(units):
        if i and ("\n" in unit.gap or (units[i - 1].text in _SENTENCE_END and unit.gap)):
            current += 1
        ids.append(current)
    return ids


_HEADING_RE = re.compile(r"[ \t]*#{1,6}[ \t][^\n]*")
# "Caroline:", "Dr. Smith:", "**User**:", "assistant:" opening a line: a speaker or field label.
_LABEL_RE = re.compile(
    r"[ \t]*(?:\*\*)?[A-Za-z][\w.'’-]*(?:[ \t][A-Z][\w.'’-]*){0,3}(?:\*\*)?:(?=[ \t])"
)
_TABLE_RE = re.compile(r"[ \t]*\|[^\n]*")
_HEADING_WORDS = 12  # a longer "heading" is prose behind a hash: only its mark is kept
_CLOSERS = frozenset(".,;:!?)]}%…”’")
# Across a dropped stretch only punctuation leans on a neighbour: a closing mark on the word
# before it ("grew." for "grew quickly."), an opening bracket or quote on the word after it.
# Symbols that belong to numbers (%, $, €, units) never do, so "12.5% to $4.2" cannot become
# "12.5%$4.2".
_LEANS_LEFT = frozenset(".,;:!?)]}…”’")
_LEANS_RIGHT = frozenset("([{“‘")


def structural_units(text: str, units: list[Unit]) -> set[int]:
    """Indices of units that carry layout and must survive any budget.

    At a line start: list markers, heading marks and the words of short headings, speaker and
    field labels (``Name:``), and every punctuation unit of a markdown table row (pipes and the
    ``---`` separators, so columns stay columns). Anywhere: the mark that ends a sentence, which
    costs one token and keeps sentences from running into each other.
    """
    keep: set[int] = set()
    starts = [u.start for u in units]
    line_starts = [0] + [m.end() for m in re.finditer(r"\n", text)]
    for ls in line_starts:
        spans: list[tuple[int, int, bool]] = []  # (start, end, punctuation only)
        if match := _LIST_MARKER_RE.match(text, ls):
            spans.append((match.start(), match.end(), False))
        if (match := _HEADING_RE.match(text, ls)) and len(match.group().split()) <= _HEADING_WORDS:
            spans.append((match.start(), match.end(), False))
        if match := _LABEL_RE.match(text, ls):
            spans.append((match.start(), match.end(), False))
        if match := _TABLE_RE.match(text, ls):
            spans.append((match.start(), match.end(), True))
        for start, end, punct_only in spans:
            i = bisect.bisect_left(starts, start)
            while i < len(units) and units[i].end <= end:
                if not (punct_only and units[i].is_word):
                    keep.add(i)
                i += 1
    for i, unit in enumerate(units):
        ends = i + 1 == len(units) or bool(units[i + 1].gap)
        if unit.text in _SENTENCE_MARKS and i and units[i - 1].is_word and ends:
            keep.add(i)
    return keep


def list_item_words(text: str, units: list[Unit]) -> list[list[int]]:
    """Word units of each list item line (``- item``, ``1. item``), one list per item.

    The engine keeps at least the best word of every item, so a bullet never stands empty.
    """
    starts = [u.start for u in units]
    items: list[list[int]] = []
    line_starts = [0] + [m.end() for m in re.finditer(r"\n", text)]
    for ls in line_starts:
        match = _LIST_MARKER_RE.match(text, ls)
        if not match or match.group().lstrip().startswith(("#", ">")):
            continue
        end = text.find("\n", match.end())
        end = len(text) if end < 0 else end
        i = bisect.bisect_left(starts, match.end())
        words = []
        while i < len(units) and units[i].end <= end:
            if units[i].is_word:
                words.append(i)
            i += 1
        if words:
            items.append(words)
    return items


def drop_orphan_marks(units: list[Unit], keep: list[bool]) -> None:
    """Unkeep a sentence mark whose sentence kept no word ("word. . word" reads as noise)."""
    since_mark = False
    for i, unit in enumerate(units):
        if "\n\n" in unit.gap or ("\n" in unit.gap and not unit.is_word):
            since_mark = False  # a new paragraph, list item, table row or labelled line
        if unit.text in _SENTENCE_MARKS and i and units[i - 1].is_word:
            if keep[i] and not since_mark:
                keep[i] = False
            since_mark = False
        elif keep[i] and unit.is_word:
            since_mark = True


def units_in_spans(units: list[Unit], spans: list[tuple[int, int]]) -> set[int]:
    """Indices of the units that overlap any of ``spans`` (character ranges, sorted by start)."""
    hit: set[int] = set()
    j = 0
    for i, unit in enumerate(units):
        while j < len(spans) and spans[j][1] <= unit.start:
            j += 1
        if j < len(spans) and spans[j][0] < unit.end:
            hit.add(i)
    return hit


def join_units(units: list[Unit], keep: list[bool]) -> str:
    """Re-join the kept units: original spacing between neighbours, newlines always kept."""
    parts: list[str] = []
    newlines = 0
    last_kept = -2
    for i, unit in enumerate(units):
        # Layout survives even when every unit of a line is dropped (at most one blank line).
        newlines = min(2, max(newlines, unit.gap.count("\n")))
        if not keep[i]:
            continue
        if unit.text in _CLOSERS and "\n" not in unit.gap:
            newlines = 0  # a kept "." belongs to the words before it, not to a dropped line
        if not parts:
            pass
        elif newlines:
            indent = unit.gap.rsplit("\n", 1)[-1] if "\n" in unit.gap else ""
            parts.append("\n" * newlines + indent)
        elif last_kept == i - 1:
            parts.append(unit.gap)
        elif unit.text not in _LEANS_LEFT and parts[-1][-1:] not in _LEANS_RIGHT:
            # Something was dropped between two kept units: never glue them ("pm$250$600").
            parts.append(" ")
        parts.append(unit.text)
        newlines = 0
        last_kept = i
    return "".join(parts)
