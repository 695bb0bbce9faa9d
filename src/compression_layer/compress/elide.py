"""Lossy pass for prose and markdown: leave out the paragraphs a reader needs least.

Called by the reversible tier (see :mod:`compression_layer.compress.reversible`) when the
word-level engine cannot bring prose or markdown within the budget. The text is read as blocks
of whole lines: headings (``#`` lines and setext underlines), fenced code blocks, and
paragraphs (runs of non-blank lines; a run of long unwrapped lines is one paragraph per line).
Headings always stay, so the document's structure stays visible. Paragraphs and code blocks are
ranked and the lowest go first until the output fits:

* with a query, by BM25 of the query's words (lightly stemmed) against each block, the whole
  text being the collection;
* without one, by how central a block is: cosine similarity of its TF-IDF vector to the
  document's centroid, with a small bonus for the first block of each section (leads summarise).

Each run of consecutive left-out blocks becomes one line such as
``[3 paragraphs omitted: retrieve o_3fa9c2d1e0 lines=40-71]``, whose selector gives back those
lines exactly. With ``squeeze`` (the word-level engine at a rate) the kept paragraphs are
compressed too, so fewer have to go: the budget is shared between keeping and squeezing.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from compression_layer.compress.reversible import LossyOutput, marker
from compression_layer.compress.types import Domain
from compression_layer.tokens import count_tokens

_HEADING = re.compile(r"[ ]{0,3}#{1,6}(?:[ \t]|$)")
_SETEXT = re.compile(r"[ ]{0,3}(?:=+|-+)\s*$")
_FENCE = re.compile(r"[ ]{0,3}(`{3,}|~{3,})")
_WORD = re.compile(r"[a-z0-9]+")
_MARKERISH = re.compile(r"omitted: retrieve o_")  # a squeezed text must not fake a marker
_UNWRAPPED = 160  # characters: lines this long are paragraphs of their own, not wrapped text
_STOP_WORDS = (
    "a an the and or but if of in on at to for from by with as is are was were be been being "
    "it its this that these those there their they them he she his her we our you your i me "
    "my not no do does did done so than then what which who whom whose when where why how "
    "into about over under can could will would should may might must have has had also "
    "such more most other some any each all both only own same very just s t"
)
_STOP = frozenset(_STOP_WORDS.split())
SQUEEZE_FLOOR = 0.35
"""The lowest rate a kept paragraph is squeezed to: below it, leaving paragraphs out is better."""
SQUEEZE_GUESS = 0.5
"""What squeezing is expected to keep of a paragraph, when planning which ones to leave out."""


@dataclass
class _Block:
    first: int  # 0-based line indices, inclusive
    last: int
    kind: str  # "heading", "paragraph" or "code"
    section: int  # index of the heading block it falls under (-1 before any)
    tokens: int = 0
    score: float = 0.0


def reduce_prose(
    text: str,
    domain: Domain,
    *,
    budget: int,
    query: str | None,
    handle: str,
    squeeze: Callable[[str, float], str] | None = None,
) -> LossyOutput | None:
    """``text`` within ``budget`` tokens by leaving out its least relevant paragraphs.

    ``squeeze(block, rate)``, when given, compresses one kept paragraph to about ``rate`` of its
    tokens (the pipeline passes its word-level engine): paragraphs are then kept at a rate no
    lower than :data:`SQUEEZE_FLOOR` and fewer are left out. None when there is nothing to leave
    out (fewer than two paragraphs, or the text already fits). Headings are always kept; when
    they alone exceed the budget the output is over it, with a note.
    """
    del domain
    total = count_tokens(text)
    if total <= budget:
        return None
    lines = text.split("\n")
    blocks = _blocks(lines)
    body = [b for b in blocks if b.kind != "heading"]
    if len(body) < 2:
        return None
    for block in blocks:
        block.tokens = count_tokens("\n".join(lines[block.first : block.last + 1])) + 1
    _score(lines, body, query)
    factor = SQUEEZE_GUESS if squeeze is not None else 1.0
    order = sorted(
        (i for i, b in enumerate(blocks) if b.kind != "heading"),
        key=lambda i: (blocks[i].score, -blocks[i].tokens),
    )[:-1]  # the best block always stays
    taken = _plan(blocks, order, total, budget, factor, handle)
    tries = 3 if squeeze is not None else len(order) + 1  # squeezing runs the engine: few tries
    while True:
        tries -= 1
        gone = set(order[:taken])
        out, runs = _render(lines, blocks, gone, handle)
        notes = [f"{len(gone)} of {len(body)} paragraphs omitted in {runs} run(s)"]
        if squeeze is not None:
            out = _squeeze_kept(lines, blocks, gone, handle, budget, squeeze, notes)
        tokens = count_tokens(out)
        if tokens <= budget or taken == len(order) or not tries:
            break
        taken += 1  # the estimate fell short: one more goes
    if not gone:
        return None
    if tokens > budget:
        notes.append(f"{tokens} tokens, over the budget of {budget}: headings and the best "
                     "paragraph are kept")  # fmt: skip
    return LossyOutput(out, omitted=len(gone), notes=notes)


def _blocks(lines: list[str]) -> list[_Block]:
    """Headings, fenced code blocks and paragraphs, in order (blank lines belong to none)."""
    blocks: list[_Block] = []
    section = -1
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
            continue
        fence = _FENCE.match(line)
        if fence:
            end = _fence_end(lines, i, fence.group(1))
            blocks.append(_Block(i, end, "code", section))
            i = end + 1
            continue
        if _HEADING.match(line):
            section = len(blocks)
            blocks.append(_Block(i, i, "heading", section))
            i += 1
            continue
        if i + 1 < len(lines) and _SETEXT.match(lines[i + 1]) and lines[i + 1].strip():
            section = len(blocks)
            blocks.append(_Block(i, i + 1, "heading", section))
            i += 2
            continue
        end = i
        while end + 1 < len(lines) and _continues(lines, end + 1):
            end += 1
        if end > i and all(len(lines[k]) >= _UNWRAPPED for k in range(i, end)):
            blocks.extend(_Block(k, k, "paragraph", section) for k in range(i, end + 1))
        else:
            blocks.append(_Block(i, end, "paragraph", section))
        i = end + 1
    return blocks


def _continues(lines: list[str], k: int) -> bool:
    """Whether line ``k`` continues the paragraph above it."""
    line = lines[k]
    if not line.strip() or _FENCE.match(line) or _HEADING.match(line):
        return False
    return not (k + 1 < len(lines) and _SETEXT.match(lines[k + 1]) and lines[k + 1].strip())


def _fence_end(lines: list[str], start: int, opener: str) -> int:
    """The line closing the fence opened at ``start`` (the last line when it never closes)."""
    for k in range(start + 1, len(lines)):
        stripped = lines[k].strip()
        if stripped.startswith(opener[0] * len(opener)) and not stripped.strip(opener[0]):
            return k
    return len(lines) - 1


def _words(text: str) -> list[str]:
    return [_stem(w) for w in _WORD.findall(text.lower()) if w not in _STOP]


def _stem(word: str) -> str:
    """A light suffix strip, so ``evictions`` meets ``eviction`` and ``located`` ``location``."""
    for suffix in ("ations", "ation", "ings", "ing", "ies", "ied", "es", "ed", "ly", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def _score(lines: list[str], body: list[_Block], query: str | None) -> None:
    """Each block's score: BM25 against the query, else centrality; plus a lead bonus."""
    bags = [Counter(_words("\n".join(lines[b.first : b.last + 1]))) for b in body]
    n = len(bags)
    df: Counter[str] = Counter()
    for bag in bags:
        df.update(bag.keys())
    idf = {w: math.log(1 + (n - d + 0.5) / (d + 0.5)) for w, d in df.items()}
    central = _centrality(bags, idf)
    terms = set(_words(query or ""))
    average = sum(sum(bag.values()) for bag in bags) / n or 1.0
    bm25 = [_bm25(bag, terms, idf, average) for bag in bags] if terms else [0.0] * n
    top = max(bm25) or 1.0
    seen_sections: set[int] = set()
    for block, match, centre in zip(body, bm25, central, strict=True):
        lead = 0.0 if block.section in seen_sections else 0.15
        if block is body[0]:
            lead = 0.3  # the opening paragraph usually says what the whole text is about
        seen_sections.add(block.section)
        if terms:
            block.score = match / top + 0.2 * centre + lead / 3
        else:
            block.score = centre + lead


def _bm25(bag: Counter[str], terms: set[str], idf: dict[str, float], average: float) -> float:
    k1, b = 1.2, 0.75
    size = sum(bag.values())
    score = 0.0
    for term in terms:
        tf = bag.get(term, 0)
        if tf:
            score += idf.get(term, 0.0) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * size / average))
    return score


def _centrality(bags: list[Counter[str]], idf: dict[str, float]) -> list[float]:
    """Cosine similarity of each block's TF-IDF vector to the mean of all of them."""
    vectors: list[dict[str, float]] = []
    for bag in bags:
        vector = {w: (1 + math.log(c)) * idf[w] for w, c in bag.items()}
        norm = math.sqrt(sum(v * v for v in vector.values())) or 1.0
        vectors.append({w: v / norm for w, v in vector.items()})
    centroid: Counter[str] = Counter()
    for vector in vectors:
        centroid.update(vector)
    norm = math.sqrt(sum(v * v for v in centroid.values())) or 1.0
    return [sum(v * centroid[w] for w, v in vector.items()) / norm for vector in vectors]


def _plan(
    blocks: list[_Block], order: list[int], total: int, budget: int, factor: float, handle: str
) -> int:
    """How many blocks of ``order`` (lowest score first) to leave out, by estimate."""
    marker_cost = count_tokens(marker(handle, "12 paragraphs", lines="1000-1999")) + 1
    kept = sum(b.tokens for b in blocks if b.kind != "heading")
    fixed = total - kept  # headings and blank lines
    gone: set[int] = set()
    runs = 0
    for i in order:
        if fixed + kept * factor + runs * marker_cost <= budget:
            break
        left = i - 1 in gone
        right = i + 1 in gone
        runs += 1 - int(left) - int(right)
        gone.add(i)
        kept -= blocks[i].tokens
    return len(gone)


def _runs(blocks: list[_Block], gone: set[int]) -> list[list[int]]:
    runs: list[list[int]] = []
    for i in sorted(gone):
        if runs and runs[-1][-1] == i - 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    return runs


def _render(
    lines: list[str],
    blocks: list[_Block],
    gone: set[int],
    handle: str,
    swap: dict[int, str] | None = None,
) -> tuple[str, int]:
    """The text with each run of left-out blocks as one marker line; and the number of runs.

    ``swap`` maps kept blocks to the text that replaces their lines (a squeezed paragraph).
    """
    replace: dict[int, tuple[int, str]] = {}
    runs = _runs(blocks, gone)
    for run in runs:
        first, last = blocks[run[0]].first, blocks[run[-1]].last
        count = len(run)
        what = f"{count} paragraph{'s' if count > 1 else ''}"
        lines_spec = f"{first + 1}-{last + 1}" if last > first else str(first + 1)
        ending = "\r" if lines[last].endswith("\r") else ""
        replace[first] = (last, marker(handle, what, lines=lines_spec) + ending)
    for i, short in (swap or {}).items():
        replace[blocks[i].first] = (blocks[i].last, short)
    out: list[str] = []
    k = 0
    while k < len(lines):
        if k in replace:
            last, line = replace[k]
            out.append(line)
            k = last + 1
        else:
            out.append(lines[k])
            k += 1
    return "\n".join(out), len(runs)


def _squeeze_kept(
    lines: list[str],
    blocks: list[_Block],
    gone: set[int],
    handle: str,
    budget: int,
    squeeze: Callable[[str, float], str],
    notes: list[str],
) -> str:
    """Render again with each kept paragraph squeezed at the rate the remaining budget allows."""
    plain, _ = _render(lines, blocks, gone, handle)
    kept = [i for i, b in enumerate(blocks) if b.kind == "paragraph" and i not in gone]
    kept_tokens = sum(blocks[i].tokens for i in kept)
    if kept_tokens <= 0:
        return plain
    fixed = count_tokens(plain) - kept_tokens
    rate = max(SQUEEZE_FLOOR, min(1.0, (budget - fixed) / kept_tokens))
    if rate >= 0.98:
        return plain
    swap: dict[int, str] = {}
    for i in kept:
        block = blocks[i]
        short = squeeze("\n".join(lines[block.first : block.last + 1]), rate).strip("\n")
        if short.strip() and not _MARKERISH.search(short):
            swap[i] = short
    notes.append(f"{len(swap)} kept paragraph(s) squeezed at rate {rate:.2f}")
    out, _ = _render(lines, blocks, gone, handle, swap)
    return out
