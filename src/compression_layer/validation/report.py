"""The result model of a validation: offline checks, per-model scores, transfer, usage, cost.

``ValidationReport.status`` sums a run up for scripts (the CLI's exit code follows it):

- ``ok``: every requested model answered, and the pair passed (or only offline checks ran and
  they passed);
- ``failed``: a model scored below the pass mark, or the offline checks found meaning lost;
- ``incomplete``: at least one requested model produced no answer at all (its calls failed, timed
  out, were skipped or refused by the budget) while another answered;
- ``no_answers``: models were requested and none produced an answer.

Failed calls of models that did answer something leave the status alone; they are listed in
``failures`` and the report is ``partial``.
"""

from __future__ import annotations

from collections import Counter
from typing import Literal

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
    reason: str | None = Field(
        default=None, description="why it failed (errors.REASONS key: auth, deadline, ...)"
    )
    timed_out: bool = Field(
        default=False, description="a call ran out of time (timeout_s or a deadline)"
    )
    cached: bool = False

    @property
    def answered(self) -> bool:
        return self.error is None and self.answer_original is not None


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
    answered: int = Field(default=0, description="tasks answered from both texts")
    failed: int = Field(default=0, description="tasks without both answers")
    timed_out: int = Field(default=0, description="failed tasks that ran out of time")


Status = Literal["ok", "failed", "incomplete", "no_answers"]


class ValidationReport(BaseModel):
    """Everything known about one (original, compressed) pair.

    ``transfer`` is the share of scored models that pass; ``passed`` is never true while a
    requested model gave no answer at all; ``partial`` is set when a provider failed or the budget
    stopped calls, so some scores are missing rather than low; ``status`` sums it up (see above).
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
    status: Status = "ok"
    budget_exhausted: bool = False
    deadline_reached: bool = Field(
        default=False, description="a deadline cut calls off; they are marked timed_out"
    )
    failures: list[str] = Field(
        default_factory=list, description="what failed, per model, in words (see failure_lines)"
    )
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
        silent = [m for m in self.models if m.answered == 0 and m.tasks]
        if silent and self.passed:
            # A model that never answered cannot have transferred: no pass is claimed for it.
            self.passed = None
        if self.models and len(silent) == len(self.models):
            self.status = "no_answers"
        elif silent:
            self.status = "incomplete"
        elif self.passed is False:
            self.status = "failed"
        else:
            self.status = "ok"
        self.failures = failure_lines(self.models)


def failure_lines(models: list[ModelResult]) -> list[str]:
    """Per model with failed tasks: how many, and each distinct error with its count."""
    lines: list[str] = []
    for m in models:
        if not m.failed:
            continue
        none = " (no answer at all)" if m.answered == 0 else ""
        timed = f", {m.timed_out} timed out" if m.timed_out else ""
        lines.append(f"{m.model}: {m.failed} of {len(m.tasks)} tasks failed{timed}{none}")
        for error, count in Counter(t.error for t in m.tasks if t.error).most_common():
            lines.append(f"  {count}x {error}")
    return lines


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
    result.answered = sum(t.answered for t in result.tasks)
    result.failed = sum(not t.answered for t in result.tasks)
    result.timed_out = sum(t.timed_out for t in result.tasks)
