"""Examples, batches, losses and the cost estimate of a Tinker run.

Rows are the dataset's chat JSONL (``train dataset``), tokenized with the *served model's own*
tokenizer (``TrainingClient.get_tokenizer()``) by :func:`training.data.completion_only`, so the
ids can never drift from what Tinker trains on. Batches are a pure function of the step (an
epoch-wise shuffle seeded by ``seed`` and the epoch), which is what lets a resumed run continue
with exactly the batches the interrupted one would have used.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from compression_layer.errors import ConfigError, InputError
from compression_layer.settings import TrainingSettings
from compression_layer.training.config import CostEstimate, estimate
from compression_layer.training.data import PROMPT_PREFIX, completion_only


@dataclass(frozen=True)
class Example:
    """One row as token ids: model input, next-token targets, loss weights (reply only)."""

    inputs: list[int]
    targets: list[int]
    weights: list[float]
    source: str

    @property
    def prompt(self) -> list[int]:
        """The templated prompt up to the generation prompt (what sampling starts from)."""
        first = self.weights.index(1.0)  # targets[i] is token i + 1 of the conversation
        return self.inputs[: first + 1]

    @property
    def tokens(self) -> int:
        """Tokens Tinker processes for this row (what it bills)."""
        return len(self.inputs)


@dataclass
class Split:
    """A split's examples and how many rows were left out (by reason)."""

    examples: list[Example]
    too_long: int = 0
    no_reply: int = 0


def load_split(folder: Path, split: str, tokenizer: Any, max_seq_length: int) -> Split:
    """``<folder>/<split>.jsonl`` as :class:`Example` rows; rows longer than ``max_seq_length``
    are skipped (cutting them would often cut the whole reply) and counted."""
    path = folder / f"{split}.jsonl"
    if not path.is_file():
        raise InputError(
            f"{path} not found: build the dataset with `compression-layer train "
            "dataset <pairs> --out <folder>`"
        )
    out = Split([])
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            messages = json.loads(line)["messages"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise InputError(f"{path}:{number}: not a chat row ({exc})") from exc
        inputs, targets, weights = completion_only(tokenizer, messages)
        if len(inputs) > max_seq_length:
            out.too_long += 1
        elif 1.0 not in weights:
            out.no_reply += 1
        else:
            user = next(m["content"] for m in messages if m.get("role") == "user")
            out.examples.append(Example(inputs, targets, weights, user.removeprefix(PROMPT_PREFIX)))
    return out


def load_splits(folder: Path, tokenizer: Any, settings: TrainingSettings) -> tuple[Split, Split]:
    """The train and valid splits; an :class:`InputError` when too few train rows fit."""
    train = load_split(folder, "train", tokenizer, settings.max_seq_length)
    valid = load_split(folder, "valid", tokenizer, settings.max_seq_length)
    if len(train.examples) < settings.batch_size:
        raise InputError(
            f"only {len(train.examples)} train rows fit max_seq_length {settings.max_seq_length} "
            f"(batch_size {settings.batch_size}; {train.too_long} rows too long)"
        )
    return train, valid


def batch_rows(step: int, rows: int, batch_size: int, seed: int) -> list[int]:
    """Row indices of the batch at ``step`` (0-based): consecutive slices of per-epoch shuffles."""
    out: list[int] = []
    position = step * batch_size
    while len(out) < batch_size:
        epoch, offset = divmod(position, rows)
        order = list(range(rows))
        random.Random(seed * 1_000_003 + epoch).shuffle(order)
        take = min(batch_size - len(out), rows - offset)
        out += order[offset : offset + take]
        position += take
    return out


def to_datum(types: Any, example: Example) -> Any:
    """A ``tinker.types.Datum`` for cross-entropy on the reply tokens."""
    return types.Datum(
        model_input=types.ModelInput.from_ints(example.inputs),
        loss_fn_inputs={"target_tokens": example.targets, "weights": example.weights},
    )


def weighted_nll(output: Any, batch: Sequence[Example]) -> tuple[float, float]:
    """(summed NLL over reply tokens, reply tokens) of a forward(-backward) output.

    Tinker's ``cross_entropy`` returns each datum's target logprobs; the mean loss is computed
    here from them and the weights, so it means the same thing as mlx-lm's (nats per token).
    """
    records = output.loss_fn_outputs
    if len(records) != len(batch):
        raise ConfigError(f"Tinker returned {len(records)} loss records for {len(batch)} rows")
    total = weight = 0.0
    for record, example in zip(records, batch, strict=True):
        logprobs = record["logprobs"].tolist()
        for lp, w in zip(logprobs, example.weights, strict=False):
            total -= float(lp) * w
            weight += w
    return total, weight


def learning_rate(settings: TrainingSettings, step: int) -> float:
    """The Adam learning rate at ``step`` (0-based) under the configured schedule."""
    lr = settings.tinker.learning_rate
    if settings.tinker.lr_schedule == "linear":
        return lr * (1.0 - step / settings.iters)
    return lr


def planned_tokens(rows: Sequence[Example], settings: TrainingSettings, start: int = 0) -> int:
    """Model tokens the steps from ``start`` on will train on (exact: batches are known)."""
    return sum(
        rows[i].tokens
        for step in range(start, settings.iters)
        for i in batch_rows(step, len(rows), settings.batch_size, settings.seed)
    )


def evaluation_steps(settings: TrainingSettings) -> list[int]:
    """Steps after which the run evaluates: 0 (the base), every ``steps_per_eval``, the last."""
    steps = set(range(0, settings.iters + 1, settings.steps_per_eval))
    return sorted(steps | {settings.iters})


class TinkerEstimate(BaseModel):
    """What a Tinker run should cost before it starts: training plus its evaluations."""

    train: CostEstimate
    evaluations: int
    eval_forward_tokens: int
    eval_prompt_tokens: int
    eval_sampled_tokens_max: int
    eval_usd_max: float
    total_usd_max: float
    note: str


def estimate_run(settings: TrainingSettings, data: Path) -> TinkerEstimate:
    """Training cost from :func:`training.config.estimate`, plus an upper bound on evaluations:
    valid-loss forward passes (billed as prefill here) and ``eval_samples`` greedy samples of
    at most ``max_new_tokens`` each, at every evaluation step."""
    train = estimate(settings, data, tinker=True)
    report = json.loads((data / "report.json").read_text(encoding="utf-8"))
    valid = report["splits"].get("valid", {})
    rows = int(valid.get("rows", 0))
    opts = settings.tinker
    per_row = (int(valid.get("prompt_tokens", 0)) + int(valid.get("completion_tokens", 0))) / max(
        rows, 1
    )
    prompt_per_row = int(valid.get("prompt_tokens", 0)) / max(rows, 1)
    val_rows = (
        rows if settings.val_batches < 0 else min(rows, settings.val_batches * settings.batch_size)
    )
    samples = min(rows, opts.eval_samples)
    evals = len(evaluation_steps(settings))
    forward = round(evals * val_rows * per_row)
    prompt = round(evals * samples * prompt_per_row)
    sampled = evals * samples * opts.max_new_tokens
    usd = (
        (forward + prompt) * opts.price_usd_per_mtok_prefill
        + sampled * opts.price_usd_per_mtok_sample
    ) / 1_000_000
    return TinkerEstimate(
        train=train,
        evaluations=evals,
        eval_forward_tokens=forward,
        eval_prompt_tokens=prompt,
        eval_sampled_tokens_max=sampled,
        eval_usd_max=round(usd, 4),
        total_usd_max=round(train.usd + usd, 4),
        note=f"{train.note}; evaluations assume every sample runs to max_new_tokens",
    )
