"""The validation harness: ask each model every task over both texts, compare, score, account.

Retries live in the SDKs (``max_retries`` / ``timeout`` on each client, Retry-After honoured by
the Anthropic and OpenAI SDKs); this layer adds what they do not: a per-provider concurrency
limit, a content-hash cache, a budget checked before each call, and failure isolation. A provider
whose calls keep failing after the SDK's retries is reported (``ModelResult.error``,
``ValidationReport.partial``); after ``DEAD_AFTER`` consecutive failures its remaining calls in
the run are skipped rather than retried again.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from compression_layer.errors import InputError
from compression_layer.settings import ValidationSettings, load_area
from compression_layer.validation.cache import ResponseCache, cache_key
from compression_layer.validation.costs import Budget, CostLedger, ModelUsage, estimate_cost
from compression_layer.validation.errors import BudgetExceededError, ProviderError
from compression_layer.validation.metrics import (
    SimilarityFn,
    default_similarity,
    judge_request,
    parse_verdict,
    score_answers,
)
from compression_layer.validation.offline import offline_checks
from compression_layer.validation.providers import (
    Completion,
    CompletionRequest,
    Provider,
    ResolvedModel,
    build_provider,
    resolve_model,
)
from compression_layer.validation.report import (
    ModelResult,
    TaskResult,
    ValidationReport,
    summarise_model,
)
from compression_layer.validation.tasks import (
    Question,
    Task,
    load_prompt,
    parse_questions,
    plan_tasks,
    question_request,
    render,
    task_request,
)

DEAD_AFTER = 3
QuestionLike = Question | str | Mapping[str, Any]


def coerce_questions(questions: Sequence[QuestionLike] | None) -> list[Question]:
    """Questions from strings, dicts (``question`` + ``answers`` or ``answer``) or models."""
    out: list[Question] = []
    for item in questions or []:
        if isinstance(item, Question):
            out.append(item)
        elif isinstance(item, str):
            out.append(Question(question=item))
        else:
            answers = item.get("answers") or ([item["answer"]] if item.get("answer") else [])
            out.append(Question(question=str(item["question"]), answers=[str(a) for a in answers]))
    return out


def _check_texts(original: str, compressed: str) -> None:
    if not original.strip():
        raise InputError("the original text is empty")
    if not compressed.strip():
        raise InputError("the compressed text is empty")


def _task_description(task: Task) -> str:
    """What the judge is told the task was; the context is left out to keep the judge cheap."""
    values = {"context": "[context omitted]"}
    if task.question is not None:
        values["question"] = task.question.question
    return render(load_prompt(task.kind), **values)


class Harness:
    """One validation run (a pair or a batch): one budget, one cache, one set of SDK clients."""

    def __init__(
        self,
        settings: ValidationSettings | None = None,
        *,
        similarity: SimilarityFn | None = None,
        cache_path: Path | None = None,
        ledger_path: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.settings = settings or load_area(ValidationSettings)
        self.similarity = similarity or default_similarity
        self.run_id = uuid.uuid4().hex[:12]
        self.budget = Budget(self.settings.budget_usd)
        self.ledger = CostLedger(ledger_path, run_id=self.run_id)
        self._cache = ResponseCache(cache_path)
        self._env = env
        self._providers: dict[str, Provider] = {}
        self._limits: dict[str, asyncio.Semaphore] = {}
        self._failures: dict[str, int] = {}
        self._last_error: dict[str, str] = {}

    async def __aenter__(self) -> Harness:
        await self._cache.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for provider in self._providers.values():
            await provider.aclose()
        self._providers.clear()
        await self._cache.__aexit__(exc_type, exc, tb)

    def resolve(self, names: Sequence[str]) -> list[ResolvedModel]:
        """Bind model names to providers and build their clients; fails before any call is made."""
        resolved = [resolve_model(name, self.settings) for name in dict.fromkeys(names) if name]
        for model in resolved:
            self._provider(model.provider)
        return resolved

    def _provider(self, name: str) -> Provider:
        if name not in self._providers:
            self._providers[name] = build_provider(name, self.settings, self._env)
            entry = self.settings.providers[name]
            self._limits[name] = asyncio.Semaphore(entry.concurrency or self.settings.concurrency)
        return self._providers[name]

    async def call(
        self, model: ResolvedModel, request: CompletionRequest, usage: dict[str, ModelUsage]
    ) -> tuple[Completion, bool]:
        """One completion through cache, budget and concurrency limit; returns (answer, cached)."""
        tally = usage.setdefault(
            f"{model.provider}/{model.model}",
            ModelUsage(provider=model.provider, model=model.model),
        )
        key = cache_key(model.provider, request)
        hit = await self._cache.get(key)
        if hit is not None:
            tally.cached += 1
            return hit, True
        provider = self._provider(model.provider)
        reservation = self.budget.reserve(
            estimate_cost(model, request.system, request.prompt, request.max_tokens)
        )
        try:
            async with self._limits[model.provider]:
                if self._failures.get(model.provider, 0) >= DEAD_AFTER:
                    raise ProviderError(
                        model.provider,
                        model.model,
                        f"skipped after {DEAD_AFTER} consecutive failures; last: "
                        f"{self._last_error.get(model.provider, '')}",
                    )
                completion = await provider.complete(request)
        except ProviderError as exc:
            self.budget.settle(reservation, 0.0)
            tally.failed += 1
            self._failures[model.provider] = self._failures.get(model.provider, 0) + 1
            self._last_error.setdefault(model.provider, str(exc))
            raise
        except BaseException:
            self.budget.settle(reservation, 0.0)
            raise
        self._failures[model.provider] = 0
        self._last_error.pop(model.provider, None)
        cost = self.ledger.record(model, completion.input_tokens, completion.output_tokens)
        self.budget.settle(reservation, cost)
        tally.calls += 1
        tally.input_tokens += completion.input_tokens
        tally.output_tokens += completion.output_tokens
        tally.cost_usd += cost
        await self._cache.put(key, model.provider, model.model, completion)
        return completion, False

    async def _answer(
        self,
        model: ResolvedModel,
        task: Task,
        original: str,
        compressed: str,
        usage: dict[str, ModelUsage],
    ) -> TaskResult:
        result = TaskResult(
            task_id=task.id,
            kind=task.kind,
            question=task.question.question if task.question else None,
        )
        max_tokens = self.settings.max_tokens
        outcomes = await asyncio.gather(
            self.call(model, task_request(task, original, model.model, max_tokens), usage),
            self.call(model, task_request(task, compressed, model.model, max_tokens), usage),
            return_exceptions=True,
        )
        for outcome in outcomes:
            if isinstance(outcome, ProviderError | BudgetExceededError):
                result.error = str(outcome)
                return result
            if isinstance(outcome, BaseException):
                raise outcome
        (first, hit_a), (second, hit_b) = outcomes  # type: ignore[misc]
        result.answer_original, result.answer_compressed = first.text, second.text
        result.cached = bool(hit_a and hit_b)
        return result

    async def _generate_questions(
        self, original: str, usage: dict[str, ModelUsage], notes: list[str]
    ) -> list[Question]:
        name = self.settings.question_model
        if not name or self.settings.num_questions == 0:
            return []
        model = self.resolve([name])[0]
        request = question_request(
            original, self.settings.num_questions, model.model, self.settings.max_tokens
        )
        try:
            completion, _ = await self.call(model, request, usage)
        except (ProviderError, BudgetExceededError) as exc:
            notes.append(f"question generation failed: {exc}")
            return []
        questions = parse_questions(completion.text, self.settings.num_questions)
        notes.append(f"{len(questions)} questions generated by {name}")
        return questions

    async def _judge(self, results: list[TaskResult], tasks: dict[str, Task],
                     usage: dict[str, ModelUsage], notes: list[str]) -> None:  # fmt: skip
        name = self.settings.judge_model
        if not name:
            return
        judge = self.resolve([name])[0]

        async def one(result: TaskResult) -> None:
            if result.score is None or result.answer_original is None:
                return
            request = judge_request(
                _task_description(tasks[result.task_id]),
                result.answer_original,
                result.answer_compressed or "",
                judge.model,
                self.settings.max_tokens,
            )
            try:
                completion, _ = await self.call(judge, request, usage)
            except (ProviderError, BudgetExceededError) as exc:
                notes.append(f"judge failed on {result.task_id}: {exc}")
                return
            verdict = parse_verdict(completion.text)
            if verdict is None:
                notes.append(f"judge reply for {result.task_id} did not follow the rubric format")
                return
            result.score = result.score.model_copy(
                update={"score": verdict.score, "method": "judge", "verdict": verdict.verdict,
                        "reason": verdict.reason}
            )  # fmt: skip

        await asyncio.gather(*(one(r) for r in results))

    async def validate(
        self,
        original: str,
        compressed: str,
        models: Sequence[str] | None = None,
        questions: Sequence[QuestionLike] | None = None,
    ) -> ValidationReport:
        """Offline checks always; with ``models``, every task on every model, scored and costed."""
        _check_texts(original, compressed)
        resolved = self.resolve(list(models or []))
        given = coerce_questions(questions)
        offline = await asyncio.to_thread(
            offline_checks, original, compressed, given, self.similarity
        )
        report = ValidationReport(offline=offline, threshold=self.settings.threshold)
        if not resolved:
            report.offline_only = True
            report.notes.append("no models requested: offline checks only")
            report.summarise()
            return report
        usage: dict[str, ModelUsage] = {}
        if not given:
            given = await self._generate_questions(original, usage, report.notes)
        tasks = plan_tasks(original, given, self.settings.tasks)
        jobs = [(model, task) for model in resolved for task in tasks]
        answered = await asyncio.gather(
            *(self._answer(model, task, original, compressed, usage) for model, task in jobs)
        )
        await asyncio.to_thread(
            self._score, [(t, r) for (_, t), r in zip(jobs, answered, strict=True)]
        )
        await self._judge(list(answered), {t.id: t for t in tasks}, usage, report.notes)
        for model in resolved:
            result = ModelResult(model=model.name, provider=model.provider, api_model=model.model)
            result.tasks = [r for (m, _), r in zip(jobs, answered, strict=True) if m is model]
            summarise_model(result, self.settings.threshold)
            report.models.append(result)
        report.usage = list(usage.values())
        report.budget_exhausted = self.budget.exhausted
        report.partial = self.budget.exhausted
        report.summarise()
        return report

    def _score(self, pairs: list[tuple[Task, TaskResult]]) -> None:
        # One thread, in sequence: the MiniLM model is shared and not meant for parallel calls.
        for task, result in pairs:
            if result.error is None and result.answer_original is not None:
                result.score = score_answers(
                    task, result.answer_original, result.answer_compressed or "", self.similarity
                )


async def validate_pair(
    original: str,
    compressed: str,
    *,
    models: Sequence[str] | None = None,
    questions: Sequence[QuestionLike] | None = None,
    settings: ValidationSettings | None = None,
) -> ValidationReport:
    """Validate one compression. With no ``models`` only the offline checks run (and the report
    says so in ``offline_only`` and ``notes``); no key is needed then."""
    async with Harness(settings) as harness:
        return await harness.validate(original, compressed, models, questions)
