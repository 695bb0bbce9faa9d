"""Cross-model validation: do Claude, GPT, Gemini (or a local model) answer from a compression as
they do from the original? Offline checks need no key; model checks go through each provider's
SDK with caching, one retry policy, per-provider concurrency, deadlines and a budget; a failed
call is reported in words (``ProviderError.reason``), never a crash.

Entry points: :func:`validate_pair` (used by the MCP tool ``validate_compression``), the
:class:`Harness` for many pairs, and the ``compression-layer validate`` CLI (``validation.cli``).
"""

from __future__ import annotations

from compression_layer.validation.harness import Harness, validate_pair
from compression_layer.validation.report import (
    ModelResult,
    OfflineChecks,
    TaskResult,
    ValidationReport,
)
from compression_layer.validation.tasks import Question

__all__ = [
    "Harness",
    "ModelResult",
    "OfflineChecks",
    "Question",
    "TaskResult",
    "ValidationReport",
    "validate_pair",
]
