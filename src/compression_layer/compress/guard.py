"""The meaning guard every engine's output passes: facts and operators lost, and what to append."""

from __future__ import annotations

from compression_layer.compress import facts, operators
from compression_layer.compress.types import EngineOutput
from compression_layer.settings import CompressSettings


def guard(
    original: str, out: EngineOutput, settings: CompressSettings, kind: str | None = None
) -> tuple[list[str], list[str]]:
    """Fact and operator guard: report what was lost; for lossy engines append it when configured.

    Lost facts are appended as a ``facts:`` line; a lost operator ("not", "unless", "more than")
    means nothing on its own, so the sentences of the original that hold it are appended instead.
    ``kind`` is the input's domain kind (``code``, ``json``, ``log``...), when known.
    """
    lost = facts.missing(original, out.text)
    ops = operators.missing(original, out.text)
    if (lost or ops) and out.verified:
        if kind in ("json", "log"):
            # The round trip proved every value equal: a "missing" fact is one written another
            # way (a table cell without its quotes), not lost; data has no comments to blame.
            return [], []
        # The check proved code and data identical, so these lived only in comments or
        # stripped docstrings, which the structural engine drops by design: say so, in notes.
        out.notes.append(f"dropped with comments/docstrings: {'; '.join([*lost, *ops])}")
        return [], []
    if out.engine != "structural" and settings.fact_guard == "append":
        return append_lost(original, out, lost, ops)
    return lost, ops


def append_lost(
    original: str, out: EngineOutput, lost: list[str], ops: list[str]
) -> tuple[list[str], list[str]]:
    """Append what a lossy output lost; return what is still missing afterwards.

    A lost operator ("not", "unless") means nothing on its own, so the original sentences that
    hold it are appended; facts still missing after that go on one ``facts:`` line.
    """
    if not lost and not ops:
        return [], []
    if ops:
        sentences = operators.sentences_with(original, ops)
        out.text = "\n".join([out.text.rstrip(), *sentences])
        out.notes.append(f"operator guard appended {len(sentences)} sentence(s) for {ops}")
        lost = facts.missing(original, out.text)  # the sentences may carry some of them
    if lost:
        out.text = f"{out.text.rstrip()}\nfacts: {'; '.join(lost)}"
        out.notes.append(f"fact guard appended {len(lost)} missing fact(s)")
    return facts.missing(original, out.text), operators.missing(original, out.text)
