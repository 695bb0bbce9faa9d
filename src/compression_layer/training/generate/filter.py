"""The acceptance rule of a teacher pair, and the scores stored with it.

Offline checks first (no key, no cost): o200k token reduction, share of the input's facts kept
(``compress.facts``), MiniLM similarity of input and compression. Only a pair that passes them
is shown to the ``validate_models``, and it is accepted when at least ``min_transfer`` of them
pass the validation threshold. Each failed check gives one reason, ``"<check>: <detail>"``.
"""

from __future__ import annotations

from typing import Any

from compression_layer.settings import GenerateSettings
from compression_layer.validation.report import ValidationReport


def _o200k(report: ValidationReport) -> tuple[int, int, float]:
    row = next(t for t in report.offline.tokens if t.tokenizer == "o200k_base")
    return row.original, row.compressed, row.reduction


def scores_of(report: ValidationReport, original: str, output: str) -> dict[str, Any]:
    """The scores stored with a pair: offline checks and, when run, each model's result."""
    from compression_layer.compress.facts import kept_ratio

    before, after, reduction = _o200k(report)
    scores: dict[str, Any] = {
        "tokens_original": before,
        "tokens_compressed": after,
        "reduction": reduction,
        "similarity": report.offline.similarity,
        "facts_kept": round(kept_ratio(original, output), 4),
        "facts_missing": report.offline.facts_missing or [],
    }
    if report.models:
        scores["models"] = {
            m.model: {"mean": m.mean, "min": m.min, "passed": m.passed} for m in report.models
        }
        scores.update(
            transfer=report.transfer, mean=report.mean, min=report.min, threshold=report.threshold
        )
    return scores


def offline_reasons(scores: dict[str, Any], settings: GenerateSettings) -> list[str]:
    """Why the offline checks refuse a pair (empty: they accept it)."""
    reasons: list[str] = []
    if scores["reduction"] < settings.min_reduction:
        reasons.append(
            f"reduction: {scores['reduction']:.1%} of o200k tokens, "
            f"below {settings.min_reduction:.0%}"
        )
    if scores["facts_kept"] < settings.min_facts_kept:
        missing = "; ".join(scores["facts_missing"][:8])
        reasons.append(
            f"facts: {scores['facts_kept']:.0%} kept, below {settings.min_facts_kept:.0%} "
            f"(missing: {missing})"
        )
    if scores["similarity"] < settings.min_similarity:
        reasons.append(
            f"similarity: {scores['similarity']:.3f}, below {settings.min_similarity:.3f}"
        )
    return reasons


def transfer_reasons(report: ValidationReport, settings: GenerateSettings) -> list[str]:
    """Why the cross-model checks refuse a pair (empty: enough models pass)."""
    if report.transfer is None or report.transfer >= settings.min_transfer:
        return []
    failing = ", ".join(
        f"{m.model} mean {m.mean:.3f}" for m in report.models if not m.passed and m.mean is not None
    )
    return [
        f"transfer: {report.transfer:.0%} of models pass (mark {report.threshold}), below "
        f"{settings.min_transfer:.0%}; failing: {failing}"
    ]
