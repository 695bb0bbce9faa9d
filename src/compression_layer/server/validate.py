"""``validate_compression``: the validation harness when present, offline checks otherwise."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from compression_layer.compress.inputs import check_text
from compression_layer.server.models import ValidationResult
from compression_layer.server.state import ServerState

PairValidator = Callable[..., Awaitable[Any]]


def _harness() -> PairValidator | None:
    try:
        from compression_layer.validation.harness import validate_pair
    except ImportError:
        return None
    return validate_pair


def _offline(original: str, compressed: str) -> ValidationResult:
    """Token reduction, missing facts and operators, MiniLM similarity: no key, no network."""
    from compression_layer.compress import facts, operators
    from compression_layer.embeddings import similarity
    from compression_layer.tokens import count_tokens

    n_orig, n_comp = count_tokens(original), count_tokens(compressed)
    lost = list(facts.missing(original, compressed))
    ops = list(operators.missing(original, compressed))
    return ValidationResult(
        tokens_original=n_orig,
        tokens_compressed=n_comp,
        ratio=round(n_comp / n_orig, 4) if n_orig else 1.0,
        facts_missing=lost,
        operators_missing=ops,
        passed=not lost and not ops,
        similarity=round(similarity(original, compressed), 4),
    )


async def run_validation(
    state: ServerState,
    original: str,
    compressed: str,
    models: list[str] | None,
    questions: list[str] | None,
    *,
    validator: PairValidator | None = None,
) -> ValidationResult:
    """Offline numbers always; the cross-model report when the harness is installed."""
    limit = state.settings.max_text_bytes
    check_text(original, max_bytes=limit, source="original")
    check_text(compressed, max_bytes=limit, source="compressed")
    validate_pair = validator or _harness()
    if validate_pair is None:
        result = await anyio.to_thread.run_sync(_offline, original, compressed)
        result.notes.append(
            "cross-model checks are not available in this installation; offline checks only"
        )
        return result
    report = await validate_pair(original, compressed, models=models, questions=questions)
    # Counting tokens of up to a few MB is CPU work: off the event loop like the rest.
    return await anyio.to_thread.run_sync(_from_report, original, compressed, report)


def _from_report(original: str, compressed: str, report: Any) -> ValidationResult:
    """Flatten the harness's offline numbers to the top level; keep the whole report too."""
    from compression_layer.tokens import count_tokens

    offline = report.offline
    n_orig, n_comp = count_tokens(original), count_tokens(compressed)
    return ValidationResult(
        tokens_original=n_orig,
        tokens_compressed=n_comp,
        ratio=round(n_comp / n_orig, 4) if n_orig else 1.0,
        facts_missing=list(offline.facts_missing or []),
        operators_missing=list(getattr(offline, "operators_missing", None) or []),
        # A model that never answered proves nothing: only a complete run ("ok") passes.
        passed=report.status == "ok" and getattr(offline, "passed", None) is not False,
        similarity=offline.similarity,
        cross_model=report.model_dump(mode="json"),
        cross_model_available=True,
        notes=[*(report.notes or []), *(f"{report.status}: {f}" for f in report.failures)],
    )
