"""``compression-layer train dataset`` and ``train mlx``: the generative training pipeline.

``train dataset`` reads pair files (the seed pairs' chat format or ``train generate`` output),
cleans and splits them (:func:`training.data.build_dataset`) and prints what it kept and dropped
by reason, broken lines with their line numbers. ``train mlx`` trains a LoRA adapter with mlx-lm
from a config keyed like mlx-lm's flags (:func:`training.mlx.train_mlx`); the same config run
again resumes from its last checkpoint, and the adapter is registered when it ends.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from compression_layer.errors import CompressionLayerError

out_console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

# How many broken lines are listed one by one (the rest are counted).
MAX_LISTED = 20


def _fail(message: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    return typer.Exit(2)


def _command_line() -> str:
    return shlex.join(["compression-layer", *sys.argv[1:]])


def _report_table(report: Any) -> Table:
    table = Table(title="dataset splits (o200k tokens)")
    for col in ("split", "rows", "prompt tokens", "completion tokens", "domains"):
        table.add_column(col, justify="left" if col in ("split", "domains") else "right")
    for name, stats in report.splits.items():
        domains = ", ".join(f"{d} {n}" for d, n in sorted(stats.domains.items())) or "-"
        table.add_row(
            name, str(stats.rows), f"{stats.prompt_tokens:,}", f"{stats.completion_tokens:,}",
            domains,
        )  # fmt: skip
    return table


def _load_tokenizer(name: str) -> Any:
    """A chat tokenizer from a local folder (or the offline HF cache) for the tinker rows."""
    from compression_layer.compress.generative.mlx import resolve_base_model
    from compression_layer.errors import ConfigError, EngineError

    try:
        folder = resolve_base_model(name)
    except EngineError as exc:
        raise ConfigError(str(exc)) from exc
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(folder), local_files_only=True)


def dataset(
    inputs: Annotated[
        list[Path],
        typer.Argument(help="pair files (*.jsonl) or folders of them", show_default=False),
    ],
    out: Annotated[Path, typer.Option(help="dataset folder to write")],
    valid_fraction: Annotated[
        float | None, typer.Option(help="hash-split share for valid (default: training config)")
    ] = None,
    test_fraction: Annotated[
        float | None, typer.Option(help="hash-split share for test (default: training config)")
    ] = None,
    seed: Annotated[int, typer.Option(help="seed of the hash split")] = 0,
    strict: Annotated[bool, typer.Option(help="refuse the input if any line is broken")] = False,
    tokenizer: Annotated[
        str | None,
        typer.Option(help="model folder whose chat tokenizer writes tinker/ token rows"),
    ] = None,
    max_length: Annotated[
        int | None, typer.Option(help="tinker/ rows: cut at this many tokens")
    ] = None,
) -> None:
    """Clean, split and write training data: mlx chat JSONL, extractive labels, tinker rows."""
    from compression_layer.settings import TrainingSettings, load_area
    from compression_layer.training.data import build_dataset

    try:
        defaults = load_area(TrainingSettings)
        tok = _load_tokenizer(tokenizer) if tokenizer else None
        report = build_dataset(
            inputs,
            out,
            valid_fraction=defaults.valid_fraction if valid_fraction is None else valid_fraction,
            test_fraction=defaults.test_fraction if test_fraction is None else test_fraction,
            seed=seed,
            tokenizer=tok,
            max_length=max_length,
            strict=strict,
        )
    except CompressionLayerError as exc:
        raise _fail(str(exc)) from exc
    if report.bad_lines:
        err.print(f"[yellow]{len(report.bad_lines)} broken line(s) skipped:[/]", highlight=False)
        for line in report.bad_lines[:MAX_LISTED]:
            err.print(f"  {escape(line)}", highlight=False)
        if len(report.bad_lines) > MAX_LISTED:
            err.print(f"  ... and {len(report.bad_lines) - MAX_LISTED} more (see report.json)")
    dropped = ", ".join(f"{why} {n}" for why, n in report.dropped.items()) or "none"
    out_console.print(
        f"read {report.read} pairs, kept {report.kept}; dropped: {dropped}; "
        f"broken lines: {len(report.bad_lines)}",
        highlight=False,
    )
    out_console.print(_report_table(report))
    out_console.print(f"wrote {out} (report.json, data hash {report.data_hash})", highlight=False)
    if report.splits.get("train") is None or report.splits["train"].rows == 0:
        raise _fail("the train split is empty: nothing to train on")


def mlx(
    config: Annotated[
        Path | None,
        typer.Option(
            help="training YAML (mlx-lm keys; default: the training settings, "
            "see config show training)"
        ),
    ] = None,
    data: Annotated[Path | None, typer.Option(help="dataset folder (`train dataset`)")] = None,
    model: Annotated[str | None, typer.Option(help="base model: MLX folder or cached repo")] = None,
    iters: Annotated[int | None, typer.Option(help="total training steps")] = None,
    batch_size: Annotated[int | None, typer.Option(help="rows per step")] = None,
    learning_rate: Annotated[float | None, typer.Option(help="Adam learning rate")] = None,
    num_layers: Annotated[int | None, typer.Option(help="layers adapted, from the last")] = None,
    max_seq_length: Annotated[
        int | None, typer.Option(help="longer rows are skipped (and counted)")
    ] = None,
    steps_per_eval: Annotated[int | None, typer.Option(help="validation interval")] = None,
    save_every: Annotated[int | None, typer.Option(help="checkpoint interval")] = None,
    name: Annotated[str | None, typer.Option(help="run / adapter name")] = None,
    out: Annotated[Path | None, typer.Option(help="runs folder (default <data dir>/runs)")] = None,
    fresh: Annotated[bool, typer.Option(help="start over instead of resuming")] = False,
    register: Annotated[
        bool | None, typer.Option(help="register the adapter when done (default: config)")
    ] = None,
) -> None:
    """Train a LoRA adapter with mlx-lm; rerunning the same config resumes from its checkpoint."""
    from compression_layer.training.config import load_config
    from compression_layer.training.mlx import train_mlx

    overrides = {
        "data": data,
        "model": model,
        "iters": iters,
        "batch_size": batch_size,
        "learning_rate": learning_rate,
        "num_layers": num_layers,
        "max_seq_length": max_seq_length,
        "steps_per_eval": steps_per_eval,
        "save_every": save_every,
        "name": name,
        "out": out,
    }
    try:
        settings = load_config(config, **overrides)
        err.print(
            f"training {escape(settings.model)} on {settings.data}: {settings.iters} steps, "
            f"batch {settings.batch_size}, rank {settings.lora_parameters.rank}, "
            f"{settings.num_layers} layers, max {settings.max_seq_length} tokens",
            highlight=False,
        )
        result = train_mlx(
            settings,
            command=_command_line(),
            fresh=fresh,
            register=register,
            log=lambda m: err.print(escape(m), highlight=False),
        )
    except CompressionLayerError as exc:
        raise _fail(str(exc)) from exc
    m = result.metrics
    if result.resumed_from:
        out_console.print(f"resumed from step {result.resumed_from}", highlight=False)
    losses = [f"steps {m.get('steps', 0)}"]
    if "train_loss_first" in m:
        losses.append(f"train loss {m['train_loss_first']} -> {m['train_loss_last10']} (last 10)")
    if "val_loss_first" in m:
        losses.append(f"val loss {m['val_loss_first']} -> {m['val_loss_last']}")
    out_console.print("; ".join(losses), highlight=False)
    out_console.print(f"run folder: {result.run_dir} (curve.png, metrics.jsonl)", highlight=False)
    out_console.print(f"adapter: {result.adapter_dir}", highlight=False)
    if result.registered_as:
        out_console.print(
            f"registered generative adapter {result.registered_as!r}; promote it with "
            f"`compression-layer adapters promote {result.registered_as}`",
            highlight=False,
        )


def register(app: typer.Typer) -> None:
    """Add ``dataset`` and ``mlx`` to the ``train`` app."""
    app.command("dataset")(dataset)
    app.command("mlx")(mlx)
