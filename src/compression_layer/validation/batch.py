"""Batch validation of a pairs file, resumable: pairs already in the output are skipped.

Input lines are JSON objects, either ``{"id"?, "original", "compressed", "questions"?}`` or the
chat format of the seed pairs (``messages`` with a ``user`` turn ``"Compress:\\n<input>"`` and an
``assistant`` turn holding the compression). A malformed line is reported with its line number
and the batch goes on. Each output line is ``{"id", "line", "report"}``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

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
    budget_exhausted: bool = False
    stopped_early: bool = False
    calls: int = 0
    cached: int = 0
    cost_usd: float = 0.0


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
    """Validate every pair of ``pairs`` not yet in ``out``; append one line per pair.

    Stops when the budget is reached; the pair that hit it is not written, so a later run with a
    larger budget redoes it (its paid answers come from the cache).
    """
    harness.resolve(models)  # unknown models and missing keys fail before any work
    summary = BatchSummary()
    seen = done_ids(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("a", encoding="utf-8") as sink:
        for number, pair, error in read_pairs(pairs):
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
                    if report.budget_exhausted:
                        summary.budget_exhausted = summary.stopped_early = True
                        break
                    row = {"id": pair.key(), "line": number, "report": report.model_dump()}
                    sink.write(json.dumps(row, ensure_ascii=False) + "\n")
                    sink.flush()
                    seen.add(pair.key())
                    summary.validated += 1
            if on_pair is not None:
                on_pair(number, pair.key() if pair else "")
    summary.cost_usd = round(summary.cost_usd, 8)
    return summary


def count_lines(path: Path) -> int:
    """Non-blank lines of ``path`` (the progress bar's total)."""
    with path.open(encoding="utf-8") as fh:
        return sum(1 for raw in fh if raw.strip())
