"""Teacher pair generation: corpus -> chunks -> teacher compressions -> validated training pairs.

1. **Load** files and folders (:mod:`generate_corpus`); broken lines are reported and skipped.
2. **Chunk** by domain to ``chunk_tokens`` o200k tokens (:mod:`generate_chunks`).
3. **Teach**: each chunk is compressed by the ``teacher`` model with its domain's prompt
   (:mod:`generate_teacher`) through the validation :class:`Harness`, i.e. the same providers,
   per-provider concurrency, response cache, budget and cost ledger as ``validate``.
4. **Filter**: a pair is accepted when the offline checks pass (o200k reduction, facts kept,
   MiniLM similarity) and, with ``validate_models``, when at least ``min_transfer`` of them pass
   the validation threshold. Models are only asked about pairs the offline checks accept.
5. **Write** accepted pairs to ``out`` and rejected ones to a sibling (:mod:`generate_output`).

A rerun with the same ``out`` skips every chunk already accepted or rejected (no call at all);
with another ``out`` the cache still answers every call already paid for. Chunks whose calls
failed or hit the budget are not written, so the next run redoes them.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from compression_layer.errors import ConfigError
from compression_layer.settings import GenerateSettings, ValidationSettings, load_area
from compression_layer.training.generate.chunks import Chunk, chunk_documents
from compression_layer.training.generate.corpus import load_corpus
from compression_layer.training.generate.filter import offline_reasons, scores_of, transfer_reasons
from compression_layer.training.generate.output import (
    accepted_row,
    check_meta,
    done_ids,
    rejected_path,
    rejected_row,
    repair_tail,
    write_meta,
)
from compression_layer.training.generate.teacher import clean_output, prompts_digest
from compression_layer.training.generate.teacher import teacher_request as build_request
from compression_layer.validation.costs import ModelUsage
from compression_layer.validation.errors import BudgetExceededError, ProviderError
from compression_layer.validation.harness import DEAD_AFTER, Harness
from compression_layer.validation.metrics import SimilarityFn
from compression_layer.validation.providers import ResolvedModel
from compression_layer.validation.report import ValidationReport

__all__ = ["GenerateSummary", "build_harness", "generate", "run_generate"]


class GenerateSummary(BaseModel):
    """What a generation run read, called, accepted, rejected and spent."""

    documents: int = 0
    bad_lines: list[str] = Field(default_factory=list, description="'<path>[:<line>]: <why>'")
    skipped_files: int = Field(default=0, description="files in a folder of no corpus type")
    chunks: int = 0
    dropped: dict[str, int] = Field(default_factory=dict, description="too small / duplicate")
    already_done: int = Field(default=0, description="chunks in out or rejected before (resume)")
    processed: int = 0
    teacher_calls: int = 0
    teacher_cached: int = 0
    validation_calls: int = 0
    validation_cached: int = 0
    accepted: int = 0
    rejected: int = 0
    rejected_by: dict[str, int] = Field(default_factory=dict, description="count per check")
    failed: int = Field(default=0, description="provider errors; redone by the next run")
    errors: list[str] = Field(default_factory=list, description="distinct provider errors")
    cost_usd: float = 0.0
    budget_exhausted: bool = False
    stopped_early: bool = False
    out: str = ""
    rejected_out: str = ""


def build_harness(
    settings: GenerateSettings,
    validation: ValidationSettings | None = None,
    *,
    budget_usd: float | None = None,
    similarity: SimilarityFn | None = None,
    cache_path: Path | None = None,
    ledger_path: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Harness:
    """A harness for one run; the budget is ``budget_usd``, else the generate setting, else the
    validation setting, and covers teacher and validation calls together."""
    validation = validation or load_area(ValidationSettings)
    budget = budget_usd if budget_usd is not None else settings.budget_usd
    if budget is not None:
        validation = validation.model_copy(update={"budget_usd": budget})
    return Harness(
        validation, similarity=similarity, cache_path=cache_path, ledger_path=ledger_path, env=env
    )


class _Run:
    """State of one run: the harness, the sinks, the tallies, and whether to stop."""

    def __init__(
        self,
        harness: Harness,
        settings: GenerateSettings,
        teacher: ResolvedModel,
        models: list[str],
    ) -> None:
        self.harness, self.settings, self.teacher, self.models = harness, settings, teacher, models
        self.summary = GenerateSummary()
        self.teacher_usage: dict[str, ModelUsage] = {}
        self.reasons: Counter[str] = Counter()
        self.stop = False
        self.teacher_failures = 0
        self.sinks: dict[str, Any] = {}

    def _error(self, exc: Exception) -> None:
        self.summary.failed += 1
        if str(exc) not in self.summary.errors and len(self.summary.errors) < 10:
            self.summary.errors.append(str(exc))

    def _tally(self, report: ValidationReport) -> None:
        self.summary.validation_calls += report.calls
        self.summary.validation_cached += report.cached

    def _write(self, sink: str, row: dict[str, Any]) -> None:
        self.sinks[sink].write(json.dumps(row, ensure_ascii=False) + "\n")
        self.sinks[sink].flush()

    def _reject(
        self, chunk: Chunk, output: str, reasons: list[str], scores: dict[str, Any]
    ) -> None:
        self.summary.rejected += 1
        self.reasons.update(reason.split(":", 1)[0] for reason in reasons)
        self._write("rejected", rejected_row(chunk, output, self.teacher.name, reasons, scores))

    async def process(self, chunk: Chunk) -> None:
        """Teacher call, offline checks, model checks, and the row written (or not, on failure)."""
        request = build_request(chunk, self.teacher.model, self.settings.teacher_max_tokens)
        try:
            completion, _ = await self.harness.call(self.teacher, request, self.teacher_usage)
        except BudgetExceededError:
            self.summary.budget_exhausted = self.stop = True
            return
        except ProviderError as exc:
            self._error(exc)
            self.teacher_failures += 1
            # The harness skips a provider after DEAD_AFTER failures in a row; so does the run.
            self.stop = self.stop or self.teacher_failures >= DEAD_AFTER
            return
        self.teacher_failures = 0
        self.summary.processed += 1
        output = clean_output(completion.text, chunk.text)
        if not output:
            self._reject(chunk, output, ["empty: the teacher returned no text"], {})
            return
        report = await self.harness.validate(chunk.text, output, [])
        scores = scores_of(report, chunk.text, output)
        reasons = offline_reasons(scores, self.settings)
        if not reasons and self.models:
            report = await self.harness.validate(chunk.text, output, self.models)
            self._tally(report)
            if report.budget_exhausted:
                self.summary.budget_exhausted = self.stop = True
                return
            if report.partial:
                errors = [t.error for m in report.models for t in m.tasks if t.error]
                self._error(ProviderError("validation", ",".join(self.models), errors[0]))
                return
            scores = scores_of(report, chunk.text, output)
            reasons = transfer_reasons(report, self.settings)
        if reasons:
            self._reject(chunk, output, reasons, scores)
            return
        self.summary.accepted += 1
        self._write("accepted", accepted_row(chunk, output, self.teacher.name, scores))


def _run_settings(settings: GenerateSettings, harness: Harness, teacher: str) -> dict[str, Any]:
    """The settings a run's pairs depend on (a resumed run must match them)."""
    return {
        "teacher": teacher,
        "validate_models": list(settings.validate_models),
        "chunk_tokens": settings.chunk_tokens,
        "min_chunk_tokens": settings.min_chunk_tokens,
        "min_reduction": settings.min_reduction,
        "min_similarity": settings.min_similarity,
        "min_facts_kept": settings.min_facts_kept,
        "min_transfer": settings.min_transfer,
        "threshold": harness.settings.threshold,
        "prompts": prompts_digest(),
    }


async def run_generate(
    inputs: Sequence[Path],
    out: Path,
    settings: GenerateSettings,
    harness: Harness,
    *,
    limit: int | None = None,
    on_total: Callable[[int], None] | None = None,
    on_chunk: Callable[[], None] | None = None,
) -> GenerateSummary:
    """Generate pairs from ``inputs`` into ``out`` (resuming it); ``harness`` must be entered.

    Unknown models and missing API keys raise before the corpus is read; ``limit`` caps the new
    chunks taken in this run. ``on_total(n)`` and ``on_chunk()`` drive a progress bar.
    """
    if not settings.teacher:
        raise ConfigError("no teacher model: pass --teacher or set 'teacher' in generate.yaml")
    models = [m for m in dict.fromkeys(settings.validate_models) if m]
    extra = [harness.settings.question_model, harness.settings.judge_model] if models else []
    teacher = harness.resolve([settings.teacher, *models, *(m for m in extra if m)])[0]
    meta = check_meta(out, _run_settings(settings, harness, settings.teacher))
    corpus = load_corpus(inputs, max_file_bytes=settings.max_file_bytes)
    chunks, dropped = chunk_documents(
        corpus.documents, settings.chunk_tokens, settings.min_chunk_tokens
    )
    run = _Run(harness, settings, teacher, models)
    summary = run.summary
    summary.documents, summary.bad_lines = len(corpus.documents), corpus.errors
    summary.skipped_files = len(corpus.skipped_files)
    summary.chunks, summary.dropped = len(chunks), dropped
    rejected = rejected_path(out)
    summary.out, summary.rejected_out = str(out), str(rejected)
    done = done_ids(out, rejected)
    pending = [c for c in chunks if c.id not in done]
    summary.already_done = len(chunks) - len(pending)
    pending = pending[:limit] if limit is not None else pending
    if on_total is not None:
        on_total(len(pending))
    out.parent.mkdir(parents=True, exist_ok=True)
    write_meta(out, meta)  # first, so an interrupted run is still recognised as ours
    for path in (out, rejected):
        repair_tail(path)
    spent_before = harness.budget.spent_usd
    queue = iter(pending)

    async def worker() -> None:
        for chunk in queue:  # one iterator shared by the workers: each chunk is taken once
            if run.stop:
                return
            await run.process(chunk)
            if on_chunk is not None:
                on_chunk()

    with out.open("a", encoding="utf-8") as good, rejected.open("a", encoding="utf-8") as bad:
        run.sinks = {"accepted": good, "rejected": bad}
        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(min(settings.workers, len(pending))):
                    group.create_task(worker())
        except BaseExceptionGroup as failure:  # a bug or a broken sink: raise it as itself
            raise failure.exceptions[0] from None
    summary.stopped_early = run.stop
    summary.teacher_calls = sum(u.calls for u in run.teacher_usage.values())
    summary.teacher_cached = sum(u.cached for u in run.teacher_usage.values())
    summary.rejected_by = dict(sorted(run.reasons.items()))
    summary.cost_usd = round(harness.budget.spent_usd - spent_before, 8)
    meta["runs"] = int(meta.get("runs", 0)) + 1
    meta["cost_usd_total"] = round(float(meta.get("cost_usd_total", 0.0)) + summary.cost_usd, 8)
    write_meta(out, meta)
    return summary


async def generate(
    inputs: Sequence[Path],
    out: Path,
    settings: GenerateSettings | None = None,
    *,
    validation: ValidationSettings | None = None,
    budget_usd: float | None = None,
    limit: int | None = None,
    similarity: SimilarityFn | None = None,
    cache_path: Path | None = None,
    ledger_path: Path | None = None,
    env: Mapping[str, str] | None = None,
    on_total: Callable[[int], None] | None = None,
    on_chunk: Callable[[], None] | None = None,
) -> GenerateSummary:
    """One run end to end: settings from ``generate.yaml`` / ``validation.yaml`` unless given."""
    settings = settings or load_area(GenerateSettings)
    harness = build_harness(
        settings, validation, budget_usd=budget_usd, similarity=similarity,
        cache_path=cache_path, ledger_path=ledger_path, env=env,
    )  # fmt: skip
    async with harness:
        return await run_generate(
            inputs, out, settings, harness, limit=limit, on_total=on_total, on_chunk=on_chunk
        )
