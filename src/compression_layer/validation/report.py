"""The result model of a validation: offline checks, per-model scores, transfer, usage, cost."""

from __future__ import annotations

from pydantic import BaseModel, Field

from compression_layer.validation.costs import ModelUsage
from compression_layer.validation.metrics import TaskScore


class TokenReduction(BaseModel):
    """Tokens of both texts under one tokenizer; ``reduction`` is 1 - compressed / original."""

    tokenizer: str
    original: int
    compressed: int
    reduction: float
    estimated: bool = False


class OfflineChecks(BaseModel):
    """Checks that need no key and no network; always part of a report."""

    tokens: list[TokenReduction]
    similarity: float = Field(description="MiniLM cosine of original and compression")
    facts_missing: list[str] | None = Field(
        default=None, description="protected facts of the original absent from the compression"
    )
    operators_missing: list[str] | None = Field(
        default=None,
        description="operators (not, may, unless, more than, ?) the compression has fewer of",
    )
    passed: bool | None = Field(
        default=None,
        description="False when a fact or an operator is lost (or code no longer parses)",
    )
    is_code: bool = False
    ast_equal: bool | None = Field(default=None, description="same Python AST (None: not Python)")
    ast_equal_ignoring_docstrings: bool | None = None
    compressed_parses: bool | None = None
    answer_retention: float | None = Field(
        default=None,
        description="share of gold answers found in the original that the compression keeps",
    )
    answers_checked: int = 0
    notes: list[str] = Field(default_factory=list)


class TaskResult(BaseModel):
    """One task for one model: both answers and their equivalence score (or the error)."""

    task_id: str
    kind: str
    question: str | None = None
    answer_original: str | None = None
    answer_compressed: str | None = None
    score: TaskScore | None = None
    error: str | None = None
    cached: bool = False


class ModelResult(BaseModel):
    """Scores of one model across the tasks; ``passed`` is ``mean >= threshold``."""

    model: str
    provider: str
    api_model: str
    tasks: list[TaskResult] = Field(default_factory=list)
    mean: float | None = None
    min: float | None = None
    passed: bool | None = None
    error: str | None = None


class ValidationReport(BaseModel):
    """Everything known about one (original, compressed) pair.

    ``transfer`` is the share of scored models that pass; ``partial`` is set when a provider failed
    or the budget stopped calls, so some scores are missing rather than low.
    """

    offline: OfflineChecks
    offline_only: bool = False
    models: list[ModelResult] = Field(default_factory=list)
    threshold: float
    mean: float | None = None
    min: float | None = None
    transfer: float | None = None
    passed: bool | None = None
    partial: bool = False
    budget_exhausted: bool = False
    calls: int = Field(default=0, description="provider calls made (SDK retries not counted)")
    cached: int = Field(default=0, description="answers served from the cache")
    cost_usd: float = 0.0
    usage: list[ModelUsage] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)

    def summarise(self) -> None:
        """Fill the aggregate fields from the per-model results."""
        scores = [t.score.score for m in self.models for t in m.tasks if t.score is not None]
        self.mean = sum(scores) / len(scores) if scores else None
        self.min = min(scores) if scores else None
        scored = [m for m in self.models if m.passed is not None]
        self.transfer = sum(bool(m.passed) for m in scored) / len(scored) if scored else None
        self.passed = None if self.transfer is None else self.transfer == 1.0
        if self.offline.passed is False:
            # Lost meaning fails the pair whatever the models said: they may not have been
            # asked about the sentence whose "not" went missing.
            self.passed = False
        self.partial = self.partial or any(
            m.error is not None or any(t.error for t in m.tasks) for m in self.models
        )
        self.calls = sum(u.calls for u in self.usage)
        self.cached = sum(u.cached for u in self.usage)
        self.cost_usd = round(sum(u.cost_usd for u in self.usage), 8)


def summarise_model(result: ModelResult, threshold: float) -> None:
    """Fill ``mean``, ``min`` and ``passed`` of one model from its task scores."""
    scores = [t.score.score for t in result.tasks if t.score is not None]
    if scores:
        result.mean = sum(scores) / len(scores)
        result.min = min(scores)
        result.passed = result.mean >= threshold
    errors = [t.error for t in result.tasks if t.error]
    if errors and not scores:
        result.error = errors[0]
