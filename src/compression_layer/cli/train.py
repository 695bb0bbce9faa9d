"""``compression-layer train ...``: training commands (CPU extractive model here)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from compression_layer.cli import train_generate, train_mlx, train_tinker
from compression_layer.errors import CompressionLayerError

app = typer.Typer(help="Train adapters.", no_args_is_help=True)
err = Console(stderr=True)


@app.callback()
def _group() -> None:
    """Train adapters (extractive on CPU; generative ones elsewhere)."""


@app.command("extractive")
def extractive(
    data: Annotated[Path, typer.Option(help="folder with train.jsonl and valid.jsonl")],
    out: Annotated[Path, typer.Option(help="adapter folder to write")],
    layers: Annotated[int, typer.Option(help="MiniLM layers used (1-6)")] = 2,
    epochs: Annotated[int, typer.Option(help="head training epochs")] = 12,
    quantize: Annotated[str, typer.Option(help="int8 | none (encoder at inference)")] = "int8",
    runtime: Annotated[str, typer.Option(help="onnx | torch (encoder runtime)")] = "onnx",
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
    max_rows: Annotated[int | None, typer.Option(help="use only the first N rows (smoke)")] = None,
) -> None:
    """Train the extractive keep/drop model on CPU and write an adapter folder."""
    from compression_layer.training.extractive import TrainOptions, train_extractive

    if runtime not in ("onnx", "torch"):
        err.print(f"[bold red]error:[/] --runtime must be onnx or torch, got {runtime!r}")
        raise typer.Exit(2)
    opts = TrainOptions(
        layers=layers,
        epochs=epochs,
        quantize=quantize,
        runtime=runtime,
        seed=seed,
        max_rows=max_rows,
    )
    command = shlex.join(["compression-layer", *sys.argv[1:]])
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, transient=False) as bar:
        tasks: dict[str, int] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = int(bar.add_task(stage, total=total))
            bar.update(tasks[stage], completed=done)  # type: ignore[arg-type]

        try:
            manifest = train_extractive(data, out, opts, command=command, progress=progress)
        except CompressionLayerError as exc:
            err.print(f"[bold red]error:[/] {exc}", highlight=False)
            raise typer.Exit(2) from exc
    valid, extra = manifest.metrics["valid"], manifest.extra
    err.print(
        f"wrote {out} in {extra['train_seconds']} s: valid AUC {valid['auc']}, "
        f"F1 {valid['f1']} on {extra['rows']['valid']['kept']} prose rows",
        highlight=False,
    )


# Commands that live in their own modules.
train_mlx.register(app)  # train dataset, train mlx
train_generate.register(app)  # train generate
train_tinker.register(app)  # train tinker
