"""LoRA training of a generative adapter on Tinker (cloud), resumable, with periodic evaluation.

A run lives in ``<runs>/<name>/`` (the layout of :mod:`training.mlx`, plus Tinker's parts)::

    config.yaml        the resolved settings (what ran)
    run.json           run metadata: Tinker paths, cost estimate, tokens trained, status
    metrics.jsonl      per-step train loss and tokens; at evaluations val loss and sample scores
    samples.jsonl      the greedy samples of every evaluation with their scores
    checkpoints/       last.json: the step and tinker:// path of the last saved training state
    curve.png          the training curve
    tinker_export/     the adapter as Tinker exported it (PEFT-style safetensors)
    peft/              PEFT LoRA for vLLM (adapter_config.json + adapter_model.safetensors)
    adapter/           mlx-lm adapter + manifest.json (kind generative) for the MLX engine

Each step submits ``forward_backward`` and ``optim_step`` together and then awaits both (the
SDK orders them on the server; submitting both first saves a round trip per step). Every
``save_every`` steps the training state (weights + Adam moments) is saved on Tinker and its path
written to ``checkpoints/last.json``; running the same config again creates the training client
from that state (``create_training_client_from_state_with_optimizer``, the SDK's replacement for
the deprecated ``load_state``) and continues at that step with the same batches.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import yaml

from compression_layer.adapters.manifest import write_manifest
from compression_layer.errors import ConfigError
from compression_layer.settings import TrainingSettings
from compression_layer.training.config import resolved_dict
from compression_layer.training.curves import MetricsLog, plot_curve
from compression_layer.training.data import dataset_hash
from compression_layer.training.tinker.data import (
    Split,
    TinkerEstimate,
    batch_rows,
    estimate_run,
    learning_rate,
    load_splits,
    planned_tokens,
    to_datum,
    weighted_nll,
)
from compression_layer.training.tinker.eval import Evaluator
from compression_layer.training.tinker.run import (
    LastCheckpoint,
    RunRecord,
    eval_summary,
    read_last,
    run_dir,
    run_name,
    write_last,
)
from compression_layer.training.tinker.sdk import (
    LOSS_FN,
    Clients,
    download_external,
    import_tinker,
    require_api_key,
)

# The run's status after an attempt, by the status the Tinker session is closed with.
_STATUS: dict[str, Literal["trained", "failed", "interrupted"]] = {
    "success": "trained",
    "errored": "failed",
    "interrupted": "interrupted",
}


@dataclass
class TinkerResult:
    """Where a Tinker run wrote its adapters, and how it went."""

    run_dir: Path
    adapter_dir: Path
    peft_dir: Path
    resumed_from: int
    metrics: dict[str, Any]
    record: RunRecord
    registered_as: str | None = None


def train_tinker(
    settings: TrainingSettings,
    *,
    clients: Clients | None = None,
    command: str = "",
    fresh: bool = False,
    register: bool | None = None,
    log: Callable[[str], None] = print,
) -> TinkerResult:
    """Train (or resume) the run for ``settings`` on Tinker; write and convert its adapter.

    ``TINKER_API_KEY`` is checked first: without it nothing is sent and nothing is written.
    """
    require_api_key()
    if settings.data is None:
        raise ConfigError("no training data: set `data:` in the config or pass --data")
    data = Path(settings.data)
    estimate = estimate_run(settings, data)  # also checks report.json and the train split
    run = _Run(settings, data, clients or Clients.real(), command, log)
    return asyncio.run(run.main(estimate, fresh, register))


class _Run:
    """One run's state while it trains: the folder, the examples, the clients."""

    def __init__(
        self,
        settings: TrainingSettings,
        data: Path,
        clients: Clients,
        command: str,
        log: Callable[[str], None],
    ) -> None:
        self.settings, self.data, self.clients = settings, data, clients
        self.command, self.log = command, log
        self.name = run_name(settings)
        self.dir = run_dir(settings)
        self.types = import_tinker().types
        self.metrics = MetricsLog(self.dir / "metrics.jsonl")
        self.train: Split = Split([])
        self.valid: Split = Split([])

    async def main(
        self, estimate: TinkerEstimate, fresh: bool, register: bool | None
    ) -> TinkerResult:
        if fresh and self.dir.exists():
            shutil.rmtree(self.dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        config = yaml.safe_dump(resolved_dict(self.settings), sort_keys=False)
        (self.dir / "config.yaml").write_text(config, encoding="utf-8")
        record = RunRecord.load(self.dir, self.name, self.settings, estimate)
        last = read_last(self.dir)
        start = last.step if last else 0
        if start < self.settings.iters or record.export_path is None:
            await self._train(record, last, start)
        export = self.dir / "tinker_export"
        if not (export / "adapter_model.safetensors").is_file():
            if record.export_path is None:
                raise ConfigError(f"{self.dir / 'run.json'}: the run has no Tinker export")
            self.log(f"downloading {record.export_path}")
            await download_external(self.clients.rest(), record.export_path, export)
        return self._finish(record, start, register)

    async def _client(self, service: Any, last: LastCheckpoint | None, meta: Any) -> Any:
        """A new LoRA training client, or one restored from the last checkpoint."""
        opts = self.settings.tinker
        if last is None:
            return await service.create_lora_training_client(
                base_model=opts.base_model,
                rank=opts.rank,
                seed=self.settings.seed,
                train_mlp=opts.train_mlp,
                train_attn=opts.train_attn,
                train_unembed=opts.train_unembed,
                user_metadata=meta,
            )
        self.log(f"resuming {self.name} from step {last.step} of {self.settings.iters}")
        return await service.create_training_client_from_state_with_optimizer(
            path=last.path, user_metadata=meta
        )

    async def _train(self, record: RunRecord, last: LastCheckpoint | None, start: int) -> None:
        settings = self.settings
        meta = {"app": "compression-layer", "run": self.name}
        service = self.clients.service(user_metadata=meta)
        record.status = "running"
        record.save()
        status: Literal["success", "errored", "interrupted"] = "errored"
        try:
            tc = await self._client(service, last, meta)
            tokenizer = tc.get_tokenizer()
            self.train, self.valid = load_splits(self.data, tokenizer, settings)
            record.note_data(self.train, self.valid, planned_tokens(self.train.examples, settings))
            if self.train.too_long or self.valid.too_long:
                self.log(
                    f"skipped rows longer than {settings.max_seq_length} tokens: "
                    f"train {self.train.too_long}, valid {self.valid.too_long}"
                )
            if start < settings.iters:
                todo = planned_tokens(self.train.examples, settings, start)
                usd = todo * settings.tinker.price_usd_per_mtok_train / 1e6
                self.log(
                    f"{self.name}: {settings.iters - start} steps of {settings.batch_size} "
                    f"rows, {todo:,} model tokens to train (~${usd:.2f})"
                )
                evaluator = Evaluator(
                    settings,
                    self.valid.examples,
                    self.metrics,
                    self.dir / "samples.jsonl",
                    tc,
                    tokenizer,
                )
                await self._steps(tc, evaluator, record, start, last.trained_tokens if last else 0)
            if record.export_path is None:
                record.sampler_path = (await tc.save_weights_for_sampler(name="final")).path
                record.export_path = (await tc.save_weights_external(name="final")).path
            record.error = None
            status = "success"
        except (KeyboardInterrupt, asyncio.CancelledError):
            status = "interrupted"
            raise
        except Exception as exc:
            record.error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            record.status = _STATUS[status]
            record.save()
            await service.close(status=status, detail=f"compression-layer run {self.name}")

    async def _steps(
        self, tc: Any, evaluator: Evaluator, record: RunRecord, start: int, trained: int
    ) -> None:
        settings, rows = self.settings, self.train.examples
        self.metrics.truncate_after(start)
        evaluator.forget_from(start)
        if start % settings.steps_per_eval == 0:
            await evaluator.run_at(start)
        for step in range(start, settings.iters):
            batch = [
                rows[i] for i in batch_rows(step, len(rows), settings.batch_size, settings.seed)
            ]
            lr = learning_rate(settings, step)
            fwd_bwd = tc.forward_backward(
                data=[to_datum(self.types, e) for e in batch], loss_fn=LOSS_FN
            )
            optim = tc.optim_step(self.types.AdamParams(learning_rate=lr))
            output = await fwd_bwd
            await optim
            nll, weight = weighted_nll(output, batch)
            trained += sum(e.tokens for e in batch)
            done = step + 1
            self.metrics.append(
                {
                    "step": done,
                    "train_loss": round(nll / max(weight, 1.0), 5),
                    "learning_rate": lr,
                    "trained_tokens": trained,
                    "reply_tokens": int(weight),
                    "time": datetime.now(UTC).timestamp(),
                }
            )
            if done % settings.steps_per_report == 0 or done == settings.iters:
                self.log(f"step {done}/{settings.iters}: train loss {nll / max(weight, 1.0):.4f}")
            if done % settings.steps_per_eval == 0 or done == settings.iters:
                await evaluator.run_at(done)
            if done % settings.save_every == 0 or done == settings.iters:
                final = done == settings.iters
                saved = await tc.save_state(
                    name="final" if final else f"step-{done:06d}",
                    ttl_seconds=None if final else settings.tinker.checkpoint_ttl_s,
                )
                write_last(self.dir, done, saved.path, trained)
                record.checkpoints.append({"step": done, "path": saved.path})
                record.trained_tokens = trained
                record.save()

    def _finish(self, record: RunRecord, start: int, register: bool | None) -> TinkerResult:
        from compression_layer.training.mlx import register_adapter, summarise
        from compression_layer.training.tinker.convert import convert

        opts = self.settings.tinker
        rows = self.metrics.rows()
        plot_curve(rows, self.dir / "curve.png", f"{self.name}: LoRA on {opts.base_model} (Tinker)")
        mlx_model = opts.mlx_base_model or opts.base_model
        adapter_dir, peft_dir = self.dir / "adapter", self.dir / "peft"
        convert(
            self.dir / "tinker_export",
            peft_dir,
            adapter_dir,
            base_model=opts.base_model,
            mlx_model=mlx_model,
        )
        metrics = summarise(rows) | eval_summary(rows) | record.cost_summary(rows, opts)
        metrics.update(train_rows=record.train_rows, valid_rows=record.valid_rows)
        manifest = record.manifest(self.settings, metrics, dataset_hash(self.data), self.command)
        write_manifest(adapter_dir, manifest)
        record.status = "done"
        if (register if register is not None else self.settings.register_adapter) and not (
            record.registered_as
        ):
            record.registered_as = register_adapter(adapter_dir, self.name)
        record.save()
        return TinkerResult(
            self.dir, adapter_dir, peft_dir, start, metrics, record, record.registered_as
        )
