"""Cost accounting: a budget that refuses a call before it would be exceeded, and a JSONL ledger.

Before each call the harness reserves an estimate (input tokens counted offline + ``max_tokens``
of output, at the model's catalog prices); after it, the reservation is settled at the billed
usage. Reservations make the check safe under concurrency: calls in flight count against the cap.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel

from compression_layer.settings import data_dir
from compression_layer.tokens import (
    DEFAULT_ENCODING,
    ESTIMATE_RATIOS,
    count_tokens,
    encoding_for_model,
    model_family,
)
from compression_layer.validation.errors import BudgetExceededError
from compression_layer.validation.providers import ResolvedModel


def default_ledger_path() -> Path:
    """``<data dir>/validation/costs.jsonl``."""
    folder = data_dir() / "validation"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / "costs.jsonl"


# Claude / Gemini input counts are estimated from o200k; the margin keeps the estimate on the
# high side (their tokenizers can run ~25% above the ratio on code), so the cap holds.
ESTIMATE_MARGIN = 1.25


def estimate_input_tokens(model_id: str, text: str) -> int:
    """Input tokens of ``text`` for ``model_id``, offline and never below the likely real count.

    Deliberately does not use registered exact counters: those make a blocking HTTP call, and this
    runs inside the event loop before every call.
    """
    family = model_family(model_id)
    if family == "openai":
        return count_tokens(text, encoding_for_model(model_id))
    base = count_tokens(text, DEFAULT_ENCODING)
    return round(base * ESTIMATE_RATIOS.get(family, 1.0) * ESTIMATE_MARGIN)


def estimate_cost(model: ResolvedModel, system: str, prompt: str, max_tokens: int) -> float:
    """USD estimate of one call: offline input count + ``max_tokens`` of output."""
    return model.cost(estimate_input_tokens(model.model, system + "\n" + prompt), max_tokens)


class ModelUsage(BaseModel):
    """Calls, cache hits, tokens and cost for one provider/model in one run."""

    provider: str
    model: str
    calls: int = 0
    cached: int = 0
    failed: int = 0
    timed_out: int = 0
    skipped: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0


@dataclass
class Budget:
    """Spend cap of one run; ``reserve`` raises :class:`BudgetExceededError` rather than overrun."""

    limit_usd: float
    spent_usd: float = 0.0
    reserved_usd: float = 0.0
    exhausted: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def reserve(self, estimate: float) -> float:
        with self._lock:
            if self.spent_usd + self.reserved_usd + estimate > self.limit_usd:
                self.exhausted = True
                raise BudgetExceededError(
                    self.spent_usd + self.reserved_usd, estimate, self.limit_usd
                )
            self.reserved_usd += estimate
            return estimate

    def settle(self, reservation: float, actual: float) -> None:
        with self._lock:
            self.reserved_usd = max(0.0, self.reserved_usd - reservation)
            self.spent_usd += actual


class CostLedger:
    """Appends one JSON row per paid call; rows hold usage and cost, never prompts or keys."""

    def __init__(self, path: Path | None = None, run_id: str = "") -> None:
        self.path = path or default_ledger_path()
        self.run_id = run_id
        self._lock = threading.Lock()

    def record(self, model: ResolvedModel, input_tokens: int, output_tokens: int) -> float:
        """Write a row and return its cost in USD."""
        cost = model.cost(input_tokens, output_tokens)
        row = {
            "ts": time.time(),
            "run_id": self.run_id,
            "provider": model.provider,
            "model": model.model,
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "cost_usd": round(cost, 8),
        }
        with self._lock, self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(row) + "\n")
        return cost


def ledger_totals(path: Path | None = None) -> dict[str, float]:
    """USD per ``provider/model`` over the whole ledger (all runs)."""
    totals: dict[str, float] = {}
    target = path or default_ledger_path()
    if not target.is_file():
        return totals
    for line in target.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            key = f"{row['provider']}/{row['model']}"
            totals[key] = totals.get(key, 0.0) + float(row["cost_usd"])
    return totals
