"""Large inputs in bounded chunks, so work and memory grow with a chunk, not with the input.

A lossy engine holds per-word state (units, encoder vectors, scores) for all of its input at
once: a 5 MB text took gigabytes. :func:`split` cuts a text into chunks of at most
``max_chars`` characters at the best boundary in the second half of each window (a blank line,
else a line break, else a sentence end, else a space; one unbroken token longer than a chunk is
cut anywhere), and never inside a fenced code block of mixed markdown. :func:`run_chunked`
compresses the chunks one after another with the same rate (a token budget becomes the rate
that spends it over the whole input) and guards each chunk's facts and operators on its own, so
what a chunk lost is appended next to where it was said. Only one chunk's state is alive at a
time; the outputs are joined with the whitespace that separated the chunks.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from compression_layer.compress import facts
from compression_layer.compress.fences import split_fences
from compression_layer.compress.guard import guard
from compression_layer.compress.types import CompressRequest, Domain, Engine, EngineOutput
from compression_layer.settings import CompressSettings

CHUNK_CHARS = 48_000
"""Largest chunk, in characters (~10k o200k tokens of English prose)."""

_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*[ \t]+")
_COUNT = re.compile(r"^(.*) \(x(\d+)\)$")


def split(text: str, max_chars: int = CHUNK_CHARS, *, mixed: bool = False) -> Iterator[str]:
    """Consecutive chunks of ``text``, each at most ``max_chars`` long, that join back to it.

    With ``mixed`` a fenced code block is never cut: a cut that would fall inside one moves
    before it, or after it when the block opens the chunk (a block longer than ``max_chars`` is
    then one chunk).
    """
    if max_chars < 2:
        raise ValueError("max_chars must be at least 2")
    fences = [(s.start, s.end) for s in split_fences(text) if s.kind == "code"] if mixed else []
    pos, end = 0, len(text)
    while end - pos > max_chars:
        cut = _cut(text, pos, pos + max_chars)
        for start, stop in fences:
            if start < cut < stop:
                cut = start if start > pos else stop
                break
        yield text[pos:cut]
        pos = cut
    if pos < end:
        yield text[pos:]


def _cut(text: str, pos: int, hi: int) -> int:
    """The best cut in ``(pos + half, hi]``: blank line, line break, sentence end, space, ``hi``."""
    lo = pos + (hi - pos) // 2
    for mark in ("\n\n", "\n"):
        at = text.rfind(mark, lo, hi)
        if at >= 0:
            return at + len(mark)
    last = None
    for last in _SENTENCE_END.finditer(text, lo, hi):  # noqa: B007 - the last match is wanted
        pass
    if last is not None:
        return last.end()
    at = max(text.rfind(" ", lo, hi), text.rfind("\t", lo, hi))
    return at + 1 if at >= 0 else hi


def separator(whitespace: str) -> str:
    """What the whitespace between two chunks becomes in the output, as engines join words:
    at most one blank line (with the next line's indentation), else one space, else nothing."""
    if "\n" in whitespace:
        return "\n" * min(2, whitespace.count("\n")) + whitespace.rsplit("\n", 1)[1]
    return " " if whitespace else ""


@dataclass
class ChunkedOutput:
    """The joined output of every chunk and what the chunk guards could not restore."""

    output: EngineOutput
    facts_missing: list[str] = field(default_factory=list)
    operators_missing: list[str] = field(default_factory=list)
    chunks: int = 0


def run_chunked(
    engine: Engine,
    text: str,
    domain: Domain,
    request: CompressRequest,
    settings: CompressSettings,
    *,
    tokens: int,
    max_chars: int = CHUNK_CHARS,
) -> ChunkedOutput:
    """Compress ``text`` chunk by chunk with ``engine``, guarding each chunk (see the module doc).

    ``tokens`` is the o200k count of ``text``: a ``target_tokens`` budget becomes the rate
    ``target_tokens / tokens`` on every chunk, so the chunks together spend at most the budget.
    """
    if request.target_tokens is not None:
        share = min(1.0, request.target_tokens / max(tokens, 1))
        request = request.model_copy(update={"rate": share, "target_tokens": None})
    parts: list[str] = []
    pending = ""  # whitespace since the last chunk body that produced output
    lost: dict[str, None] = {}  # ordered, each fact once
    ops: dict[str, int] = {}
    notes: list[list[str]] = []
    engine_name, adapter, n = engine.name, None, 0
    for chunk in split(text, max_chars, mixed=domain.kind == "mixed"):
        body = chunk.strip()
        lead = chunk[: len(chunk) - len(chunk.lstrip())]
        pending += lead
        if not body:
            pending += chunk[len(lead) :]
            continue
        n += 1
        out = engine.run(body, domain, request)
        chunk_lost, chunk_ops = guard(body, out, settings)
        engine_name, adapter = out.engine, out.adapter or adapter
        piece = out.text.strip()
        if piece:
            if parts:
                parts.append(separator(pending))
            parts.append(piece)
            pending = ""
        pending += chunk[len(chunk.rstrip()) :]
        lost.update(dict.fromkeys(chunk_lost))
        for key in chunk_ops:
            name, count = _split_count(key)
            ops[name] = ops.get(name, 0) + count
        notes.append(out.notes)
    merged = EngineOutput("".join(parts), engine_name, adapter, merge_notes(notes))
    missing = _lost_everywhere(list(lost), merged.text) if lost else []
    merged.notes.insert(
        0, f"compressed in {n} chunks of at most {max_chars:,} characters, one after another"
    )
    operators = [name if count == 1 else f"{name} (x{count})" for name, count in ops.items()]
    return ChunkedOutput(merged, missing, operators, n)


def protected_share(text: str, *, samples: int = 3, size: int = CHUNK_CHARS) -> float:
    """Share of the bytes of ``text`` a lossy engine keeps whatever the rate: its facts, meaning
    operators and layout (the extractive engine's forced units, each with one space).

    Estimated on ``samples`` evenly spaced slices of ``size`` characters (all of a shorter
    text): a fraction of a second for any input, within a few percent on real prose.
    """
    from compression_layer.compress.extractive.engine import forced_units
    from compression_layer.compress.extractive.text import split_units

    if len(text) <= samples * size:
        pieces = [text]
    else:
        step = (len(text) - size) / (samples - 1) if samples > 1 else 0
        pieces = [text[int(i * step) : int(i * step) + size] for i in range(samples)]
    kept = 0
    for piece in pieces:
        units = split_units(piece)
        kept += sum(len(units[i].text) + 1 for i in forced_units(piece, units))
    return min(1.0, kept / max(1, sum(len(piece) for piece in pieces)))


def _lost_everywhere(lost: list[str], output: str) -> list[str]:
    """The facts a chunk lost that no other chunk's output has either (a fact is kept once it
    survives anywhere, as for an input compressed whole). A fact not found again in isolation
    stays reported: when in doubt, say it is missing."""
    # Each fact between plain words, so it reads as it did mid-sentence ("June", not a date).
    joined = "and " + " and ".join(lost) + " and"
    found = {fact.text for fact in facts.extract(joined)}
    still = set(facts.missing(joined, output))
    return [f for f in lost if f not in found or f in still]


def _split_count(key: str) -> tuple[str, int]:
    """``"not (x3)"`` -> ``("not", 3)``; ``"not"`` -> ``("not", 1)``."""
    m = _COUNT.match(key)
    return (m.group(1), int(m.group(2))) if m else (key, 1)


def merge_notes(per_chunk: list[list[str]]) -> list[str]:
    """One note per kind over all chunks: the first one, and how many other chunks had one like
    it (notes are alike when they read the same up to their first digit)."""
    first: dict[str, str] = {}
    seen: dict[str, int] = {}
    for notes in per_chunk:
        for note in dict.fromkeys(notes):
            key = re.split(r"\d", note, maxsplit=1)[0]
            first.setdefault(key, note)
            seen[key] = seen.get(key, 0) + 1
    return [
        first[key] + (f" (first chunk; {seen[key] - 1} more chunks alike)" if seen[key] > 1 else "")
        for key in first
    ]
