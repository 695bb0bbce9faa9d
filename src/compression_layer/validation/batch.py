"""Batch validation of a pairs file, resumable: pairs already in the output are skipped.

Input lines are JSON objects, either ``{"id"?, "original", "compressed", "questions"?}`` or the
chat format of the seed pairs (``messages`` with a ``user`` turn ``"Compress:\\n<input>"`` and an
``assistant`` turn holding the compression). A malformed line is reported with its line number
and the batch goes on. Each output line is ``{"id", "line", "report"}``.

A pair is written once every requested model has answered it (some failed calls are allowed and
listed in its report). A pair where a model produced no answer at all is left out, counted in
``unfinished`` with what failed, so a rerun redoes it (paid answers come from the cache). The
batch stops early, to be resumed, when the budget or the batch deadline is reached, or when every
requested provider has been given up.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from compression_layer.errors import InputError
from compression_layer.validation.harness import Harness
from compression_layer.validation.tasks import Question

_COMPRESS_PREFIX = "Compress:\n"


class PairInput(BaseModel):
    """One pair to validate."""

    id: str | None = None
    original: str
    compressed: str
    questions: list[Question] = Field(default_factory=list)

    def key(self) -> str:
        """The given id, else a content hash (so a resumed run recognises the same pair)."""
        if self.id:
            return self.id
        digest = hashlib.sha256(f"{self.original}\x00{self.compressed}".encode())
        return digest.hexdigest()[:16]


class LineError(BaseModel):
    """A pairs-file line that could not be validated, and why."""

    line: int
    error: str


class BatchSummary(BaseModel):
    """What a batch run did."""

    total: int = 0
    validated: int = 0
    skipped: int = Field(default=0, description="already in the output (resume)")
    errors: list[LineError] = Field(default_factory=list)
    unfinished: int = Field(
        default=0, description="pairs where a model produced no answer: not written, redone later"
    )
    budget_exhausted: bool = False
    deadline_reached: bool = False
    gave_up: dict[str, str] = Field(
        default_factory=dict, description="providers given up in this run, with their last error"
    )
    stopped_early: bool = False
    status: Literal["ok", "incomplete", "no_answers"] = Field(
        default="ok",
        description="no_answers: models were asked and none ever answered; incomplete: some pair "
        "is unfinished or the batch stopped early",
    )
    tasks_answered: int = 0
    tasks_failed: int = 0
    failures: list[str] = Field(default_factory=list, description="what failed (first 20 lines)")
    calls: int = 0
    cached: int = 0
    cost_usd: float = 0.0

    def add_failures(self, pair: str, lines: list[str]) -> None:
        for line in lines:
            if len(self.failures) < 20:
                self.failures.append(f"pair {pair}: {line.strip()}")

    def settle(self, asked_models: bool) -> None:
        """Fill ``status`` once the run is over."""
        if asked_models and self.tasks_failed and not self.tasks_answered:
            self.status = "no_answers"
        elif self.unfinished or self.stopped_early:
            self.status = "incomplete"
        else:
            self.status = "ok"
        self.cost_usd = round(self.cost_usd, 8)


def _from_chat(row: dict[str, Any]) -> dict[str, Any]:
    turns = {m.get("role"): m.get("content", "") for m in row["messages"]}
    user = str(turns.get("user", ""))
    return {
        "id": row.get("id"),
        "original": user.removeprefix(_COMPRESS_PREFIX),
        "compressed": str(turns.get("assistant", "")),
    }


def read_pairs(path: Path) -> Iterator[tuple[int, PairInput | None, str | None]]:
    """``(line number, pair, None)`` per good line, ``(line number, None, error)`` per bad one."""
    with path.open(encoding="utf-8") as fh:
        for number, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                row = json.loads(raw)
                if not isinstance(row, dict):
                    raise ValueError("expected a JSON object")
                if "messages" in row:
                    row = _from_chat(row)
                pair = PairInput.model_validate(row)
                if not pair.original.strip() or not pair.compressed.strip():
                    raise ValueError("original or compressed is empty")
            except (ValueError, KeyError, TypeError, ValidationError) as exc:
                message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                yield number, None, f"line {number}: {message}"
                continue
            yield number, pair, None


def done_ids(out: Path) -> set[str]:
    """Ids already written to ``out`` (a truncated last line is ignored and redone)."""
    if not out.is_file():
        return set()
    ids: set[str] = set()
    for raw in out.read_text(encoding="utf-8").splitlines():
        try:
            ids.add(str(json.loads(raw)["id"]))
        except (json.JSONDecodeError, KeyError, TypeError):
            continue
    return ids


async def run_batch(
    pairs: Path,
    out: Path,
    harness: Harness,
    models: Sequence[str],
    *,
    on_pair: Callable[[int, str], None] | None = None,
) -> BatchSummary:
    """Validate every pair of ``pairs`` not yet in ``out``; append one line per finished pair.

    Stops when the budget or the run deadline is reached, or every provider has been given up;
    the pair that hit it is not written, so a later run redoes it (its paid answers come from the
    cache).
    """
    resolved = harness.resolve(models)  # unknown models and missing keys fail before any work
    providers = {m.provider for m in resolved}
    summary = BatchSummary()
    seen = done_ids(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("a", encoding="utf-8") as sink:
        for number, pair, error in read_pairs(pairs):
            if harness.deadline_passed():
                summary.deadline_reached = summary.stopped_early = True
                break
            summary.total += 1
            if pair is None:
                summary.errors.append(LineError(line=number, error=error or "unreadable"))
            elif pair.key() in seen:
                summary.skipped += 1
            else:
                try:
                    report = await harness.validate(
                        pair.original, pair.compressed, models, pair.questions or None
                    )
                except InputError as exc:
                    summary.errors.append(LineError(line=number, error=f"line {number}: {exc}"))
                else:
                    summary.calls += report.calls
                    summary.cached += report.cached
                    summary.cost_usd += report.cost_usd
                    summary.tasks_answered += sum(m.answered for m in report.models)
                    summary.tasks_failed += sum(m.failed for m in report.models)
                    summary.add_failures(pair.key(), report.failures)
                    if report.budget_exhausted:
                        summary.budget_exhausted = summary.stopped_early = True
                        break
                    if report.deadline_reached and harness.deadline_passed():
                        summary.deadline_reached = summary.stopped_early = True
                        break
                    if report.status in ("no_answers", "incomplete"):
                        summary.unfinished += 1
                    else:
                        row = {"id": pair.key(), "line": number, "report": report.model_dump()}
                        sink.write(json.dumps(row, ensure_ascii=False) + "\n")
                        sink.flush()
                        seen.add(pair.key())
                        summary.validated += 1
                    summary.gave_up = harness.gave_up()
                    if providers and providers <= set(summary.gave_up):
                        summary.stopped_early = True
                        break
            if on_pair is not None:
                on_pair(number, pair.key() if pair else "")
    summary.settle(bool(resolved))
    return summary


def count_lines(path: Path) -> int:
    """Non-blank lines of ``path`` (the progress bar's total)."""
    with path.open(encoding="utf-8") as fh:
        return sum(1 for raw in fh if raw.strip())
