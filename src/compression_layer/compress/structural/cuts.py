"""Choosing which spans of a text a lossy pass replaces by markers, within a token budget.

A :class:`Cut` is one span a pass may replace (a function body, a class body, a long value),
with the text that stands in for it around the marker. Cuts nest (a method inside a class):
choosing a cut makes its descendants moot. :func:`choose` picks cuts phase by phase (bodies
before whole classes, say), least query-relevant first and, among equals, the largest first,
until the estimated output fits the budget; :func:`apply` writes the output.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from compression_layer.compress.reversible import marker
from compression_layer.tokens import count_tokens

_WORD = re.compile(r"[A-Za-z][a-z]+|[A-Z]+(?![a-z])|\d+")
# Words too common in code and questions to say what a query is about.
_STOP_WORDS = (
    "the and for with from that this what which how does are was were not self cls def class "
    "return none true false null undefined function const let var into use when "
    "why where who can will its has have been"
)
_STOP = frozenset(_STOP_WORDS.split())


@dataclass
class Cut:
    """A span ``text[start:end]`` a pass may replace by ``before + marker + after``.

    ``text[start:end]`` is exactly what the marker's selector gives back; ``lead`` and
    ``trail`` characters of layout around it (the line break after an opening brace, the
    indentation before the closing one) go with it. ``phase`` orders the cuts (lower first);
    ``parent`` is the index of the innermost cut whose span holds this one; ``name`` (a symbol)
    and the span's words decide query relevance.
    """

    start: int
    end: int
    what: str
    selector: dict[str, str]
    before: str = ""
    after: str = ""
    lead: int = 0
    trail: int = 0
    phase: int = 1
    name: str = ""
    parent: int | None = None
    saved: int = field(default=0, init=False)
    relevance: float = field(default=0.0, init=False)

    def stand_in(self, handle: str) -> str:
        return f"{self.before}{marker(handle, self.what, **self.selector)}{self.after}"


def query_terms(query: str | None) -> set[str]:
    """Lower-cased words of ``query`` (identifiers split at case and underscores), no stop words."""
    if not query:
        return set()
    return {w.lower() for w in _WORD.findall(query) if len(w) > 2} - _STOP


def nest(cuts: list[Cut]) -> None:
    """Set each cut's ``parent`` from the spans (cuts must nest, never partly overlap)."""
    order = sorted(range(len(cuts)), key=lambda i: (cuts[i].start, -cuts[i].end))
    stack: list[int] = []
    for i in order:
        while stack and cuts[stack[-1]].end < cuts[i].end:
            stack.pop()
        cuts[i].parent = stack[-1] if stack else None
        stack.append(i)


def choose(
    text: str,
    cuts: list[Cut],
    *,
    budget: int,
    query: str | None,
    handle: str,
    total: int,
    outline_phase: int = 3,
    outline_slack: float = 1.25,
) -> list[int]:
    """Indices of the cuts to make so that the output's tokens (estimated) reach ``budget``.

    ``total`` is the token count of ``text``. A cut is worth making when its stand-in is shorter
    than its span; within a phase the least query-relevant go first, the largest among equals,
    and choosing a cut drops its chosen descendants (their saving counted once, in it).

    Cuts of ``outline_phase`` and later take away outline (a class with its method signatures):
    they are made only while the estimate exceeds ``budget * outline_slack``, and each time the
    one that best fits what is still needed (the smallest that reaches the budget, else the
    largest), so a budget a little under the outline's floor keeps the outline.
    """
    terms = query_terms(query)
    for cut in cuts:
        span = text[cut.start - cut.lead : cut.end + cut.trail]
        cut.saved = count_tokens(span) - count_tokens(cut.stand_in(handle))
        if terms:
            words = {w.lower() for w in _WORD.findall(span)}
            named = {w.lower() for w in _WORD.findall(cut.name)}
            cut.relevance = 2.0 * len(terms & named) + len(terms & words)
    chosen: set[int] = set()
    estimate = total
    useful = [i for i, cut in enumerate(cuts) if cut.saved > 0]
    order = sorted(
        (i for i in useful if cuts[i].phase < outline_phase),
        key=lambda i: (cuts[i].phase, cuts[i].relevance, -cuts[i].saved, cuts[i].start),
    )
    for i in order:
        if estimate <= budget:
            break
        estimate -= _take(cuts, i, chosen)
    outline = [i for i in useful if cuts[i].phase >= outline_phase]
    while outline and estimate > budget * outline_slack:
        least = min(cuts[i].relevance for i in outline)
        pool = [i for i in outline if cuts[i].relevance == least]
        gains = {i: _gain(cuts, i, chosen) for i in pool}
        enough = [i for i in pool if gains[i] >= estimate - budget]
        pick = (
            min(enough, key=lambda i: (gains[i], cuts[i].start))
            if enough
            else max(pool, key=lambda i: (gains[i], -cuts[i].start))
        )
        outline.remove(pick)
        estimate -= _take(cuts, pick, chosen)
    return sorted(chosen, key=lambda i: cuts[i].start)


def _gain(cuts: list[Cut], i: int, chosen: set[int]) -> int:
    """Tokens saved by making cut ``i`` now (0 when a chosen ancestor already covers it)."""
    if _covered(cuts, i, chosen):
        return 0
    return cuts[i].saved - sum(cuts[j].saved for j in chosen if _inside(cuts, j, i))


def _take(cuts: list[Cut], i: int, chosen: set[int]) -> int:
    """Make cut ``i`` if it saves anything; returns the tokens saved."""
    gain = _gain(cuts, i, chosen)
    if gain <= 0:
        return 0
    chosen.difference_update([j for j in chosen if _inside(cuts, j, i)])
    chosen.add(i)
    return gain


def apply(text: str, cuts: list[Cut], chosen: list[int], handle: str) -> str:
    """``text`` with each chosen cut (non-overlapping, in order) replaced by its stand-in."""
    out: list[str] = []
    pos = 0
    for i in chosen:
        cut = cuts[i]
        out.append(text[pos : cut.start - cut.lead])
        out.append(cut.stand_in(handle))
        pos = cut.end + cut.trail
    out.append(text[pos:])
    return "".join(out)


def _covered(cuts: list[Cut], i: int, chosen: set[int]) -> bool:
    parent = cuts[i].parent
    while parent is not None:
        if parent in chosen:
            return True
        parent = cuts[parent].parent
    return False


def _inside(cuts: list[Cut], j: int, i: int) -> bool:
    parent = cuts[j].parent
    while parent is not None:
        if parent == i:
            return True
        parent = cuts[parent].parent
    return False
