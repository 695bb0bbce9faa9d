"""The generative engines' own meaning guard: append what was lost, or fall back to extractive."""

from __future__ import annotations

from collections.abc import Callable

from compression_layer.compress import facts, operators
from compression_layer.compress.extractive.service import ExtractiveAdapterEngine, load_extractive
from compression_layer.compress.guard import append_lost
from compression_layer.compress.types import CompressRequest, Domain, Engine, EngineOutput
from compression_layer.errors import EngineError
from compression_layer.settings import CompressSettings, GenerativeSettings


def extractive_fallback(compress_settings: CompressSettings) -> Engine:
    """The engine the guard falls back to: the configured extractive adapter."""
    return ExtractiveAdapterEngine(load_extractive(compress_settings.extractive_adapter))


def guard_output(
    original: str,
    out: EngineOutput,
    domain: Domain,
    request: CompressRequest,
    settings: GenerativeSettings,
    fallback: Callable[[], Engine],
) -> EngineOutput:
    """Apply the generative fact guard: append missing facts, or run ``fallback()``'s engine.

    An empty output always falls back. If the fallback engine cannot be loaded, the facts are
    appended instead; the notes say which happened.
    """
    empty = not out.text.strip()
    lost = facts.missing(original, out.text)
    ops = operators.missing(original, out.text)
    if not lost and not ops and not empty:
        return out
    if settings.fact_guard == "fallback" or empty:
        why = "empty output" if empty else _lost_summary(lost, ops)
        try:
            engine = fallback()
        except EngineError as exc:
            out.notes.append(f"fact guard: {why}; fallback engine unavailable ({exc})")
        else:
            result = engine.run(original, domain, request)
            result.notes[:0] = [*out.notes, f"fact guard: {why}; fell back to {result.engine}"]
            return result
    append_lost(original, out, lost, ops)
    return out


def _lost_summary(lost: list[str], ops: list[str]) -> str:
    parts = [f"{len(lost)} missing fact(s)"] if lost else []
    if ops:
        parts.append(f"missing operator(s) {ops}")
    return ", ".join(parts)
