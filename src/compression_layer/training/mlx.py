"""LoRA training of a generative adapter through mlx-lm's Python API, resumable.

A run lives in ``<runs>/<name>/``::

    config.yaml        the resolved settings (what ran)
    metrics.jsonl      per-step train loss, validation loss every ``steps_per_eval`` steps
    checkpoints/       <step>_adapters.safetensors, <step>_optimizer.safetensors, last.json
    curve.png          the training curve
    adapter/           adapters.safetensors + adapter_config.json + manifest.json (kind generative)

mlx-lm's ``train()`` does the steps (and shows its rich progress bar); a training callback
records losses and writes checkpoints every ``save_every`` steps, including the optimizer state.
Running the same config again finds ``checkpoints/last.json`` and continues from that step
(a lost partial interval is redone) instead of starting over; ``fresh=True`` starts over.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from compression_layer.adapters.manifest import Manifest, now, write_manifest
from compression_layer.errors import ConfigError, InputError
from compression_layer.settings import TrainingSettings, data_dir
from compression_layer.training.config import resolved_dict
from compression_layer.training.curves import MetricsLog, plot_curve, series
from compression_layer.training.data import dataset_hash


@dataclass
class RunResult:
    """Where a run wrote its adapter, and how it went."""

    run_dir: Path
    adapter_dir: Path
    resumed_from: int
    metrics: dict[str, Any]
    registered_as: str | None = None


def run_name(settings: TrainingSettings) -> str:
    """The configured name, else one derived from the config (same config -> same run)."""
    if settings.name:
        return settings.name
    digest = hashlib.sha256(json.dumps(resolved_dict(settings), sort_keys=True).encode())
    return f"mlx-{Path(settings.model).name.lower()}-{digest.hexdigest()[:8]}"


def _read_rows(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def _load_model(settings: TrainingSettings) -> tuple[Any, Any, Path]:
    from compression_layer.compress.generative.mlx import resolve_base_model
    from compression_layer.errors import EngineError

    try:
        base = resolve_base_model(settings.model)
    except EngineError as exc:
        raise ConfigError(str(exc)) from exc
    from mlx_lm.utils import load

    loaded = load(str(base))
    return loaded[0], loaded[1], base


def _adapter_config(settings: TrainingSettings, base: Path) -> dict[str, Any]:
    """``adapter_config.json`` with mlx-lm's own keys, so ``mlx_lm.generate --adapter-path``
    and :func:`mlx_lm.tuner.utils.load_adapters` read it."""
    lora = settings.lora_parameters.model_dump(exclude_none=True)
    return {
        "fine_tune_type": settings.fine_tune_type,
        "num_layers": settings.num_layers,
        "lora_parameters": lora,
        "model": str(base),
        "data": str(settings.data),
        "iters": settings.iters,
        "batch_size": settings.batch_size,
        "learning_rate": settings.learning_rate,
        "max_seq_length": settings.max_seq_length,
        "mask_prompt": settings.mask_prompt,
        "seed": settings.seed,
    }


class _Recorder:
    """mlx-lm training callback: losses to ``metrics.jsonl``, checkpoints every ``save_every``."""

    def __init__(
        self, model: Any, optimizer: Any, run: Path, offset: int, settings: TrainingSettings
    ) -> None:
        self.model, self.optimizer, self.run = model, optimizer, run
        self.offset, self.settings = offset, settings
        self.log = MetricsLog(run / "metrics.jsonl")

    def on_train_loss_report(self, info: dict[str, Any]) -> None:
        step = self.offset + int(info["iteration"])
        self.log.append(
            {
                "step": step,
                "train_loss": round(float(info["train_loss"]), 5),
                "learning_rate": float(info["learning_rate"]),
                "tokens_per_second": round(float(info["tokens_per_second"]), 1),
                "trained_tokens": int(info["trained_tokens"]),
                "peak_memory_gb": round(float(info["peak_memory"]), 3),
                "time": time.time(),
            }
        )
        if step % self.settings.save_every == 0 and step < self.settings.iters:
            save_checkpoint(self.model, self.optimizer, self.run / "checkpoints", step)

    def on_val_loss_report(self, info: dict[str, Any]) -> None:
        step = self.offset + int(info["iteration"])
        self.log.append({"step": step, "val_loss": round(float(info["val_loss"]), 5)})


def save_checkpoint(model: Any, optimizer: Any, folder: Path, step: int) -> None:
    """Adapter weights and optimizer state at ``step``; ``last.json`` is written last, so a
    crash mid-save leaves the previous checkpoint as the one to resume from."""
    import mlx.core as mx
    from mlx.utils import tree_flatten

    folder.mkdir(parents=True, exist_ok=True)
    mx.save_safetensors(
        str(folder / f"{step:07d}_adapters.safetensors"),
        dict(tree_flatten(model.trainable_parameters())),
    )
    mx.save_safetensors(
        str(folder / f"{step:07d}_optimizer.safetensors"), dict(tree_flatten(optimizer.state))
    )
    tmp = folder / "last.json.tmp"
    tmp.write_text(json.dumps({"step": step}), encoding="utf-8")
    tmp.replace(folder / "last.json")


def _resume(model: Any, optimizer: Any, folder: Path) -> int:
    """Load the last checkpoint into ``model`` and ``optimizer``; its step (0: none)."""
    marker = folder / "last.json"
    if not marker.is_file():
        return 0
    import mlx.core as mx
    from mlx.utils import tree_unflatten

    step = int(json.loads(marker.read_text(encoding="utf-8"))["step"])
    weights: Any = mx.load(str(folder / f"{step:07d}_adapters.safetensors"))
    model.load_weights(list(weights.items()), strict=False)
    state: Any = mx.load(str(folder / f"{step:07d}_optimizer.safetensors"))
    optimizer.state = tree_unflatten(list(state.items()))
    optimizer.init(model.trainable_parameters())  # keeps the loaded moments, marks it ready
    return step


def train_mlx(
    settings: TrainingSettings,
    *,
    command: str = "",
    fresh: bool = False,
    register: bool | None = None,
    log: Callable[[str], None] = print,
) -> RunResult:
    """Train (or resume) the run for ``settings`` and write its adapter folder."""
    if settings.data is None:
        raise ConfigError("no training data: set `data:` in the config or pass --data")
    data = Path(settings.data)
    train_rows = _read_rows(data / "train.jsonl")
    valid_rows = _read_rows(data / "valid.jsonl")
    if len(train_rows) < settings.batch_size:
        raise InputError(
            f"{data / 'train.jsonl'} has {len(train_rows)} rows, fewer than batch_size "
            f"{settings.batch_size}: build it with `compression-layer train dataset`"
        )
    name = run_name(settings)
    run = (settings.out or data_dir() / "runs") / name
    if fresh and run.exists():
        shutil.rmtree(run)
    run.mkdir(parents=True, exist_ok=True)
    config = resolved_dict(settings)
    (run / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")

    import mlx.core as mx
    import mlx.optimizers as optim
    import numpy as np
    from mlx_lm.tuner.datasets import CacheDataset, ChatDataset
    from mlx_lm.tuner.trainer import TrainingArgs, train
    from mlx_lm.tuner.utils import linear_to_lora_layers

    mx.random.seed(settings.seed)
    model, tokenizer, base = _load_model(settings)
    model.freeze()
    lora = settings.lora_parameters.model_dump(exclude_none=True)
    linear_to_lora_layers(
        model, settings.num_layers, lora, use_dora=settings.fine_tune_type == "dora"
    )
    optimizer = optim.Adam(learning_rate=settings.learning_rate)
    start = 0 if fresh else _resume(model, optimizer, run / "checkpoints")
    metrics_log = MetricsLog(run / "metrics.jsonl")
    metrics_log.truncate_after(start)
    if start:
        log(f"resuming {name} from step {start} of {settings.iters}")
    # The batch order is numpy's global RNG: seeded per start so a resumed run is reproducible.
    np.random.seed(settings.seed + start)
    # Rows longer than max_seq_length would be cut by mlx-lm, often losing the whole reply (then
    # the loss has no tokens): train and validate on the rows that fit, and say how many did not.
    train_rows, train_long = _fitting(train_rows, tokenizer, settings.max_seq_length)
    valid_rows, valid_long = _fitting(valid_rows, tokenizer, settings.max_seq_length)
    if train_long or valid_long:
        log(f"skipped rows longer than {settings.max_seq_length} tokens: "
            f"train {train_long}, valid {valid_long}")  # fmt: skip
    if len(train_rows) < settings.batch_size:
        raise InputError(
            f"only {len(train_rows)} train rows fit max_seq_length {settings.max_seq_length}"
        )
    # mlx-lm draws `val_batches` batches at random at every validation, so two validation losses
    # differ by which rows were drawn as much as by training; validating on one fixed subset
    # (the first rows that fit) every time makes the curve comparable from step to step.
    if settings.val_batches > 0:
        valid_rows = valid_rows[: settings.val_batches * settings.batch_size]
    mask = settings.mask_prompt
    train_set = CacheDataset(ChatDataset(train_rows, tokenizer, mask_prompt=mask))
    valid_set = CacheDataset(ChatDataset(valid_rows, tokenizer, mask_prompt=mask))
    adapter_dir = run / "adapter"
    adapter_dir.mkdir(exist_ok=True)
    adapter_config = _adapter_config(settings, base)
    (adapter_dir / "adapter_config.json").write_text(
        json.dumps(adapter_config, indent=2), encoding="utf-8"
    )
    remaining = settings.iters - start
    if remaining > 0:
        args = TrainingArgs(
            batch_size=settings.batch_size,
            iters=remaining,
            val_batches=-1,  # all of the fixed subset above
            steps_per_report=1,  # per-step loss in metrics.jsonl
            steps_per_eval=settings.steps_per_eval,
            steps_per_save=10**9,  # checkpoints are ours (with optimizer state)
            max_seq_length=settings.max_seq_length,
            adapter_file=str(adapter_dir / "adapters.safetensors"),
            grad_checkpoint=settings.grad_checkpoint,
        )
        recorder: Any = _Recorder(model, optimizer, run, start, settings)  # duck-typed callback
        has_valid = len(valid_rows) >= settings.batch_size
        train(model, optimizer, train_set, valid_set if has_valid else None, args=args,
              training_callback=recorder)  # fmt: skip
        save_checkpoint(model, optimizer, run / "checkpoints", settings.iters)
        if has_valid:
            # mlx-lm validates *before* a step; measure the final weights too.
            from mlx_lm.tuner.trainer import evaluate

            val = evaluate(model, valid_set, settings.batch_size, -1,
                           max_seq_length=settings.max_seq_length)  # fmt: skip
            metrics_log.append({"step": settings.iters, "val_loss": round(float(val), 5)})
    rows = metrics_log.rows()
    plot_curve(rows, run / "curve.png", f"{name}: LoRA on {Path(settings.model).name}")
    metrics = summarise(rows)
    metrics.update(train_rows=len(train_rows), valid_rows=len(valid_rows))
    metrics.update(train_rows_too_long=train_long, valid_rows_too_long=valid_long)
    manifest = Manifest(
        kind="generative",
        name=name,
        base_model=str(base),
        data_hash=dataset_hash(data),
        metrics=metrics,
        created_at=now(),
        command=command,
        trainer="mlx-lm",
        run_dir=str(run),
    )
    write_manifest(adapter_dir, manifest)
    result = RunResult(run, adapter_dir, start, metrics)
    if register if register is not None else settings.register_adapter:
        result.registered_as = register_adapter(adapter_dir, name)
    return result


def _fitting(
    rows: list[dict[str, Any]], tokenizer: Any, max_len: int
) -> tuple[list[dict[str, Any]], int]:
    """Rows whose templated length is at most ``max_len`` tokens, and how many were not."""
    kept = []
    for row in rows:
        ids = tokenizer.apply_chat_template(row["messages"], return_dict=False)
        if len(ids) <= max_len:
            kept.append(row)
    return kept, len(rows) - len(kept)


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """First/last/best losses of a run (what the manifest and the report show)."""
    train = series(rows, "train_loss")
    val = series(rows, "val_loss")
    out: dict[str, Any] = {"steps": train[-1][0] if train else 0}
    if train:
        tail = [v for _, v in train[-10:]]
        out["train_loss_first"] = train[0][1]
        out["train_loss_last10"] = round(sum(tail) / len(tail), 5)
    if val:
        out["val_loss_first"] = val[0][1]
        out["val_loss_last"] = val[-1][1]
        out["val_loss_best"] = min(v for _, v in val)
    return out


def register_adapter(adapter_dir: Path, name: str) -> str:
    """Register under ``name``; a re-run of the same name replaces nothing (suffix ``-N``)."""
    from compression_layer.adapters.registry import AdapterRegistry

    registry = AdapterRegistry()
    taken = {r.name for r in registry.list()}
    final, n = name, 1
    while final in taken:
        n += 1
        final = f"{name}-{n}"
    return registry.register(adapter_dir, final).name
