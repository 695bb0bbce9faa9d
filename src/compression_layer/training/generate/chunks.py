"""Chunking by domain for ``train generate``: pieces of at most ``max_tokens`` o200k tokens.

Each domain is cut where its structure allows, and only falls back to a coarser cut when a unit
alone is too long: prose at paragraphs (then sentences), markdown at paragraphs with every fenced
block kept whole (an oversized block is split and each piece re-fenced), Python at top-level
statements (decorators and the comments above them stay attached), other code at blank lines
before an unindented line, logs at entries (indented continuation lines stay with theirs), JSON at
array elements / object members (re-serialised, recursively). The last resort is a cut at a token
count. A chunk's domain is the document's forced one (from its file type) or detected on it.
"""

from __future__ import annotations

import ast
import hashlib
import itertools
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from compression_layer.compress.domain import detect
from compression_layer.compress.fences import split_fences
from compression_layer.tokens import count_tokens
from compression_layer.training.generate.corpus import Document

Splitter = Callable[[str], list[str]]

_PARAGRAPH_END = re.compile(r"\n[ \t]*\n+")
_SENTENCE_END = re.compile(r"[.!?][\"')\]]*[ \t]+|\n")
_HEADING = re.compile(r"[ \t]*\n*#{1,6}[ \t]")
_LEADING_BLANK = re.compile(r"\A(?:[ \t]*\n)+")


@dataclass(frozen=True)
class Chunk:
    """One piece of a document: what the teacher compresses. ``id`` is a hash of the text."""

    id: str
    text: str
    domain: str
    origin: str
    tokens: int


def chunk_id(text: str) -> str:
    """Content id of a chunk: the same text gets the same id on every run (resume)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _cut_after(text: str, pattern: re.Pattern[str]) -> list[str]:
    """``text`` cut after every match of ``pattern``; the pieces join back to ``text``."""
    pieces: list[str] = []
    start = 0
    for match in pattern.finditer(text):
        if match.end() > start:
            pieces.append(text[start : match.end()])
            start = match.end()
    if start < len(text):
        pieces.append(text[start:])
    return pieces


def paragraphs(text: str) -> list[str]:
    """Blank-line separated blocks, each keeping the blank lines that follow it."""
    return _cut_after(text, _PARAGRAPH_END)


def sentences(text: str) -> list[str]:
    """Sentences (and lines), each keeping the whitespace that follows it."""
    return _cut_after(text, _SENTENCE_END)


def lines(text: str) -> list[str]:
    """Lines with their line ends."""
    return text.splitlines(keepends=True)


def hard_split(text: str, max_tokens: int) -> list[str]:
    """Cut ``text`` into pieces of at most ``max_tokens`` (last resort: the cut ignores meaning)."""
    pieces: list[str] = []
    while count_tokens(text) > max_tokens:
        lo, hi = 1, len(text)
        while lo < hi:  # the longest prefix that fits
            mid = (lo + hi + 1) // 2
            if count_tokens(text[:mid]) <= max_tokens:
                lo = mid
            else:
                hi = mid - 1
        pieces.append(text[:lo])
        text = text[lo:]
    if text:
        pieces.append(text)
    return pieces


def pack(
    units: Sequence[str],
    max_tokens: int,
    splitters: Sequence[Splitter] = (),
    *,
    section_start: Callable[[str], bool] | None = None,
) -> list[str]:
    """Join consecutive ``units`` into pieces of at most ``max_tokens``.

    A unit over the limit is cut by the first splitter and its parts packed with the rest (then
    :func:`hard_split`). ``section_start`` units (markdown headings) open a new piece once the
    current one is half full, so chunks follow the document's sections.
    """
    out: list[str] = []
    current: list[str] = []
    size = 0

    def emit(group: list[str]) -> None:
        text = "".join(group)
        # Unit counts are summed; BPE merges across a boundary can make the join one token
        # longer, so the exact count decides and an over-long group is halved.
        if len(group) == 1 or count_tokens(text) <= max_tokens:
            out.append(text)
        else:
            emit(group[: len(group) // 2])
            emit(group[len(group) // 2 :])

    for unit in units:
        n = count_tokens(unit)
        if n > max_tokens:
            if current:
                emit(current)
            current, size = [], 0
            if splitters:
                parts = splitters[0](unit)
                if len(parts) > 1:
                    out.extend(pack(parts, max_tokens, splitters[1:]))
                    continue
                out.extend(pack([unit], max_tokens, splitters[1:]))
            else:
                out.extend(hard_split(unit, max_tokens))
            continue
        starts = section_start is not None and section_start(unit) and size >= max_tokens // 2
        if current and (size + n > max_tokens or starts):
            emit(current)
            current, size = [], 0
        current.append(unit)
        size += n
    if current:
        emit(current)
    return out


def python_units(code: str) -> list[str]:
    """Top-level statements of Python source (comments above a statement stay with it); blank-line
    blocks when it does not parse."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return code_units(code)
    rows = lines(code)
    starts: list[int] = []
    for node in tree.body:
        first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))]) - 1
        while first > (starts[-1] if starts else 0) and rows[first - 1].lstrip().startswith("#"):
            first -= 1
        starts.append(first)
    bounds = sorted({0, *starts, len(rows)})
    return ["".join(rows[a:b]) for a, b in itertools.pairwise(bounds) if a < b]


def code_units(code: str) -> list[str]:
    """Blocks that start at an unindented line after a blank line (most languages' top level)."""
    rows = lines(code)
    units: list[str] = []
    start = 0
    for i in range(1, len(rows)):
        row = rows[i]
        top = row.strip() and row[0] not in " \t}])" and not rows[i - 1].strip()
        if top and i > start:
            units.append("".join(rows[start:i]))
            start = i
    if start < len(rows):
        units.append("".join(rows[start:]))
    return units


def log_units(text: str) -> list[str]:
    """Log entries: a line plus the indented lines under it (stack traces, wrapped messages)."""
    units: list[str] = []
    for row in lines(text):
        if units and row[:1] in (" ", "\t"):
            units[-1] += row
        else:
            units.append(row)
    return units


def _code_pieces(text: str, language: str | None, max_tokens: int) -> list[str]:
    units = python_units(text) if language == "python" else code_units(text)
    return pack(units, max_tokens, [paragraphs, lines])


def _markdown_pieces(text: str, max_tokens: int) -> list[str]:
    units: list[str] = []
    for segment in split_fences(text):
        if segment.kind == "text":
            units.extend(paragraphs(segment.text))
            continue
        raw = segment.raw
        if count_tokens(raw) <= max_tokens:
            units.append(raw)
            continue
        close = segment.fence_close or segment.fence_open.strip()[:3] + "\n"
        room = max(1, max_tokens - count_tokens(segment.fence_open + close) - 1)
        for body in _code_pieces(segment.text, segment.language, room):
            units.append(segment.fence_open + body.rstrip("\n") + "\n" + close)
    return pack(
        units, max_tokens, [sentences, lines], section_start=lambda u: _HEADING.match(u) is not None
    )


def _json_groups(value: Any, max_tokens: int, dumps: Callable[[Any], str]) -> list[Any]:
    """JSON values, each serialising to at most ``max_tokens`` where it can be split."""
    if not isinstance(value, dict | list) or count_tokens(dumps(value)) <= max_tokens:
        return [value]
    is_dict = isinstance(value, dict)
    items: list[Any] = list(value.items()) if isinstance(value, dict) else list(value)

    def make(group: list[Any]) -> Any:
        return dict(group) if is_dict else list(group)

    out: list[Any] = []
    current: list[Any] = []
    size = 0

    def emit(group: list[Any]) -> None:
        if len(group) == 1 or count_tokens(dumps(make(group))) <= max_tokens:
            out.append(make(group))
        else:
            emit(group[: len(group) // 2])
            emit(group[len(group) // 2 :])

    for item in items:
        n = count_tokens(dumps(make([item])))
        if n > max_tokens:
            if current:
                emit(current)
            current, size = [], 0
            inner = item[1] if is_dict else item
            for sub in _json_groups(inner, max_tokens, dumps):
                out.append({item[0]: sub} if is_dict else sub)
            continue
        if current and size + n > max_tokens:
            emit(current)
            current, size = [], 0
        current.append(item)
        size += n
    if current:
        emit(current)
    return out


def _json_pieces(text: str, max_tokens: int) -> list[str]:
    if count_tokens(text) <= max_tokens:
        return [text]
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return pack(lines(text), max_tokens)
    pretty = "\n " in text

    def dumps(v: Any) -> str:
        if pretty:
            return json.dumps(v, ensure_ascii=False, indent=2)
        return json.dumps(v, ensure_ascii=False, separators=(",", ":"))

    return [dumps(group) for group in _json_groups(value, max_tokens, dumps)]


def split_document(text: str, domain: str, max_tokens: int) -> list[str]:
    """Pieces of ``text`` cut the way its domain label (``prose``, ``code:go``, ...) allows."""
    kind, _, language = domain.partition(":")
    if kind == "json":
        return _json_pieces(text, max_tokens)
    if kind == "log":
        return pack(log_units(text), max_tokens, [lines])
    if kind == "code":
        return _code_pieces(text, language or None, max_tokens)
    return _markdown_pieces(text, max_tokens)


def chunk_documents(
    documents: Iterable[Document], max_tokens: int, min_tokens: int = 1
) -> tuple[list[Chunk], dict[str, int]]:
    """Chunks of every document, and how many pieces were dropped (``too_small``,
    ``duplicate``): repeated text is compressed once."""
    chunks: list[Chunk] = []
    seen: set[str] = set()
    dropped = {"too_small": 0, "duplicate": 0}
    for doc in documents:
        domain = doc.domain or detect(doc.text).label()
        for k, piece in enumerate(split_document(doc.text, domain, max_tokens), 1):
            text = _LEADING_BLANK.sub("", piece).rstrip()
            if not text:
                continue
            tokens = count_tokens(text)
            if tokens < min_tokens:
                dropped["too_small"] += 1
                continue
            cid = chunk_id(text)
            if cid in seen:
                dropped["duplicate"] += 1
                continue
            seen.add(cid)
            label = doc.domain or detect(text).label()
            chunks.append(Chunk(cid, text, label, f"{doc.origin}#{k}", tokens))
    return chunks, dropped
