"""The validation harness: ask each model every task over both texts, compare, score, account.

Around each provider call this layer adds: a content-hash cache, a budget checked before the
call, one retry policy for every SDK (:mod:`~compression_layer.validation.retry`), a
per-provider gate (:mod:`~compression_layer.validation.gate`: concurrency, and after
``DEAD_AFTER`` failed calls in a row the provider is given up, its calls in flight cancelled), and
deadlines. ``pair_deadline_s`` bounds one pair's calls; the run deadline (``deadline_s``, which
the CLI and :func:`validate_pair` take from ``run_deadline_s``) bounds everything the harness
does. When a deadline passes, the calls in flight are cancelled and reported as timed out
(``TaskResult.timed_out``). A provider that fails is reported (``ModelResult.error``,
``ValidationReport.status``), never a crash.
"""

from __future__ import annotations

import asyncio
import contextvars
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from compression_layer.errors import InputError
from compression_layer.settings import ValidationSettings, load_area
from compression_layer.validation.cache import ResponseCache, cache_key
from compression_layer.validation.costs import Budget, CostLedger, ModelUsage, estimate_cost
from compression_layer.validation.errors import BudgetExceededError, ProviderError
from compression_layer.validation.gate import ProviderGate, Ticket
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
from compression_layer.validation.retry import RetryPolicy, with_retries
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


@dataclass(frozen=True)
class Deadline:
    """A point in event-loop time, and the words that name it in messages."""

    at: float
    name: str
    setting: str
    seconds: float

    def describe(self) -> str:
        return f"the {self.name} of {self.seconds:g} s ({self.setting})"


# The deadline of the pair being validated; tasks started by validate() inherit it.
_PAIR_DEADLINE: contextvars.ContextVar[Deadline | None] = contextvars.ContextVar(
    "pair_deadline", default=None
)


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
    """One validation run (a pair or a batch): one budget, one cache, one set of SDK clients.

    ``deadline_s`` is the run deadline, counted from entering the harness (``None``: none);
    ``deadline_name`` and ``deadline_setting`` name it in messages.
    """

    def __init__(
        self,
        settings: ValidationSettings | None = None,
        *,
        similarity: SimilarityFn | None = None,
        cache_path: Path | None = None,
        ledger_path: Path | None = None,
        env: Mapping[str, str] | None = None,
        deadline_s: float | None = None,
        deadline_name: str = "run deadline",
        deadline_setting: str = "run_deadline_s",
    ) -> None:
        self.settings = settings or load_area(ValidationSettings)
        self.similarity = similarity or default_similarity
        self.run_id = uuid.uuid4().hex[:12]
        self.budget = Budget(self.settings.budget_usd)
        self.ledger = CostLedger(ledger_path, run_id=self.run_id)
        self._cache = ResponseCache(cache_path)
        self._env = env
        self._providers: dict[str, Provider] = {}
        self._gates: dict[str, ProviderGate] = {}
        self._retry = RetryPolicy.from_settings(self.settings)
        self._deadline_s = deadline_s
        self._deadline_words = (deadline_name, deadline_setting)
        self._run_deadline: Deadline | None = None

    async def __aenter__(self) -> Harness:
        if self._deadline_s is not None:
            now = asyncio.get_running_loop().time()
            self._run_deadline = Deadline(now + self._deadline_s, *self._deadline_words,
                                          self._deadline_s)  # fmt: skip
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

    def deadline_passed(self) -> bool:
        """True once the run deadline has passed."""
        deadline = self._run_deadline
        return deadline is not None and asyncio.get_running_loop().time() >= deadline.at

    def gave_up(self) -> dict[str, str]:
        """Providers given up in this run, with the last error of each."""
        return {
            name: gate.last_error.detail if gate.last_error else ""
            for name, gate in self._gates.items()
            if gate.dead
        }

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
            self._gates[name] = ProviderGate(
                name, entry.concurrency or self.settings.concurrency, DEAD_AFTER
            )
        return self._providers[name]

    async def _prepare(self, resolved: list[ResolvedModel]) -> None:
        """Build the SDK clients off the event loop: a cold SDK import takes seconds, and the
        loop must keep time for the deadlines meanwhile."""
        jobs = []
        for provider in {m.provider: self._providers[m.provider] for m in resolved}.values():
            prepare = getattr(provider, "prepare", None)
            if prepare is not None:
                jobs.append(asyncio.to_thread(prepare))
        deadline = self._deadline()
        try:
            async with asyncio.timeout_at(deadline.at if deadline else None):
                await asyncio.gather(*jobs)
        except TimeoutError:
            pass  # each call now fails at once, saying the deadline passed before it was sent

    def _deadline(self) -> Deadline | None:
        """The earlier of the pair's and the run's deadlines."""
        found = [d for d in (_PAIR_DEADLINE.get(), self._run_deadline) if d is not None]
        return min(found, key=lambda d: d.at) if found else None

    def _pair_deadline(self) -> Deadline | None:
        seconds = self.settings.pair_deadline_s
        if seconds is None:
            return None
        now = asyncio.get_running_loop().time()
        return Deadline(now + seconds, "pair deadline", "pair_deadline_s", seconds)

    def _timed_out(
        self, model: ResolvedModel, deadline: Deadline, ticket: Ticket, tried: list[ProviderError]
    ) -> ProviderError:
        if not ticket.started:
            text = f"not sent: {deadline.describe()} passed while it waited for a free slot"
        else:
            text = f"no answer within {deadline.describe()}; the call was cancelled"
            if tried:
                text += f" (last attempt: {tried[-1].detail})"
        return ProviderError(model.provider, model.model, text, reason="deadline")

    async def call(
        self, model: ResolvedModel, request: CompletionRequest, usage: dict[str, ModelUsage]
    ) -> tuple[Completion, bool]:
        """One completion through cache, budget, gate, retries and deadlines.

        Returns (answer, cached); raises :class:`ProviderError` (in words; ``reason`` says why)
        or :class:`BudgetExceededError`.
        """
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
        gate = self._gates[model.provider]
        reservation = self.budget.reserve(
            estimate_cost(model, request.system, request.prompt, request.max_tokens)
        )
        deadline = self._deadline()
        ticket = Ticket()
        tried: list[ProviderError] = []
        if deadline is not None and asyncio.get_running_loop().time() >= deadline.at:
            self.budget.settle(reservation, 0.0)
            tally.failed += 1
            tally.timed_out += 1
            raise ProviderError(
                model.provider, model.model, f"not sent: {deadline.describe()} had passed",
                reason="deadline",
            )  # fmt: skip

        def attempt() -> Any:
            return with_retries(
                lambda: provider.complete(request),
                self._retry,
                deadline=deadline.at if deadline else None,
                errors=tried,
            )

        try:
            try:
                async with asyncio.timeout_at(deadline.at if deadline else None) as scope:
                    completion: Completion = await gate.run(model.model, attempt, ticket)
            except TimeoutError:
                if deadline is None or not scope.expired():
                    raise
                error = self._timed_out(model, deadline, ticket, tried)
                if ticket.started:
                    gate.failed(error)
                raise error from None
        except ProviderError as exc:
            self.budget.settle(reservation, 0.0)
            tally.failed += 1
            tally.timed_out += int(exc.timed_out)
            tally.skipped += int(exc.reason == "skipped")
            raise
        except BaseException:
            self.budget.settle(reservation, 0.0)
            raise
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
            if isinstance(outcome, BaseException) and not isinstance(
                outcome, ProviderError | BudgetExceededError
            ):
                raise outcome
        failures = [o for o in outcomes if isinstance(o, ProviderError | BudgetExceededError)]
        if failures:
            # The more telling of the two: a real failure over a call skipped because of it.
            worst = min(failures, key=lambda e: getattr(e, "reason", "") == "skipped")
            result.error = str(worst)
            result.reason = worst.reason if isinstance(worst, ProviderError) else "budget"
            result.timed_out = isinstance(worst, ProviderError) and worst.timed_out
            return result
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
        """Offline checks always; with ``models``, every task on every model, scored and costed.

        The model calls run while the offline checks do, and stop at the pair's deadline
        (``pair_deadline_s``) or the run's, whichever comes first.
        """
        _check_texts(original, compressed)
        resolved = self.resolve(list(models or []))
        given = coerce_questions(questions)
        offline_job = asyncio.to_thread(
            offline_checks, original, compressed, given, self.similarity
        )
        if not resolved:
            report = ValidationReport(offline=await offline_job, threshold=self.settings.threshold)
            report.offline_only = True
            report.notes.append("no models requested: offline checks only")
            report.summarise()
            return report
        usage: dict[str, ModelUsage] = {}
        notes: list[str] = []
        token = _PAIR_DEADLINE.set(self._pair_deadline())
        try:
            await self._prepare(resolved)
            offline, (tasks, jobs, answered) = await asyncio.gather(
                offline_job, self._ask(original, compressed, resolved, given, usage, notes)
            )
            # Scoring needs MiniLM, which the offline checks were using: after them, not beside.
            await asyncio.to_thread(
                self._score, [(t, r) for (_, t), r in zip(jobs, answered, strict=True)]
            )
            await self._judge(list(answered), {t.id: t for t in tasks}, usage, notes)
        finally:
            _PAIR_DEADLINE.reset(token)
        report = ValidationReport(offline=offline, threshold=self.settings.threshold, notes=notes)
        for model in resolved:
            result = ModelResult(model=model.name, provider=model.provider, api_model=model.model)
            result.tasks = [r for (m, _), r in zip(jobs, answered, strict=True) if m is model]
            summarise_model(result, self.settings.threshold)
            report.models.append(result)
        report.usage = list(usage.values())
        report.budget_exhausted = self.budget.exhausted
        report.partial = self.budget.exhausted
        report.deadline_reached = any(
            t.reason == "deadline" for m in report.models for t in m.tasks
        )
        for name, last in self.gave_up().items():
            if any(m.provider == name for m in resolved):
                report.notes.append(
                    f"{name} was given up after {DEAD_AFTER} failed calls in a row: {last}"
                )
        report.summarise()
        return report

    async def _ask(
        self,
        original: str,
        compressed: str,
        resolved: list[ResolvedModel],
        given: list[Question],
        usage: dict[str, ModelUsage],
        notes: list[str],
    ) -> tuple[list[Task], list[tuple[ResolvedModel, Task]], list[TaskResult]]:
        """Questions (given or generated), the task plan, and every model's answers."""
        if not given:
            given = await self._generate_questions(original, usage, notes)
        tasks = plan_tasks(original, given, self.settings.tasks)
        jobs = [(model, task) for model in resolved for task in tasks]
        answered = await asyncio.gather(
            *(self._answer(model, task, original, compressed, usage) for model, task in jobs)
        )
        return tasks, jobs, list(answered)

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
    says so in ``offline_only`` and ``notes``); no key is needed then. The run stops at
    ``run_deadline_s`` (and each pair's calls at ``pair_deadline_s``)."""
    settings = settings or load_area(ValidationSettings)
    async with Harness(settings, deadline_s=settings.run_deadline_s) as harness:
        return await harness.validate(original, compressed, models, questions)
