"""``compression-layer train tinker``: LoRA training on Tinker from a ``training.yaml``.

The config is the one ``train mlx`` reads (top-level steps, batch size, evaluation and
checkpoint intervals) with the ``tinker:`` block for the model, rank, learning rate and prices.
``--dry-run`` prints the cost estimate and exits (no key needed); otherwise ``TINKER_API_KEY``
must be set, and is checked before anything is read from or written to the run folder. Running
the same config again resumes from the last checkpoint saved on Tinker.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from compression_layer.errors import CompressionLayerError

if TYPE_CHECKING:
    from compression_layer.training.tinker.data import TinkerEstimate

out_console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def _fail(message: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    return typer.Exit(2)


def _estimate_table(est: TinkerEstimate) -> Table:
    t = est.train
    table = Table(title="Tinker cost estimate (USD)", show_header=False)
    table.add_column("item")
    table.add_column("value", justify="right")
    table.add_row("train rows", f"{t.train_rows:,}")
    table.add_row("tokens per epoch (o200k)", f"{t.tokens_per_epoch:,}")
    table.add_row("epochs", f"{t.epochs}")
    table.add_row("trained tokens", f"{t.trained_tokens:,}")
    table.add_row(f"training at ${t.usd_per_mtok}/Mtok", f"${t.usd:.2f}")
    table.add_row(f"{est.evaluations} evaluations (at most)", f"${est.eval_usd_max:.2f}")
    table.add_row("total (at most)", f"${est.total_usd_max:.2f}")
    return table


def tinker(
    config: Annotated[
        Path | None,
        typer.Option(help="training YAML (as for `train mlx`, with a tinker: block)"),
    ] = None,
    data: Annotated[Path | None, typer.Option(help="dataset folder (`train dataset`)")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="print the cost estimate and exit")
    ] = False,
    name: Annotated[str | None, typer.Option(help="run / adapter name")] = None,
    out: Annotated[Path | None, typer.Option(help="runs folder (default <data dir>/runs)")] = None,
    fresh: Annotated[bool, typer.Option(help="start over instead of resuming")] = False,
    register: Annotated[
        bool | None, typer.Option(help="register the adapter when done (default: config)")
    ] = None,
) -> None:
    """Train a LoRA adapter on Tinker; rerunning the same config resumes from its checkpoint."""
    from compression_layer.training.config import load_config
    from compression_layer.training.tinker.data import estimate_run
    from compression_layer.training.tinker.sdk import require_api_key

    try:
        if not dry_run:
            require_api_key()  # before the config is read: nothing runs without a key
        settings = load_config(config, data=data, name=name, out=out)
        if settings.data is None:
            raise _fail("no training data: set `data:` in the config or pass --data")
        est = estimate_run(settings, Path(settings.data))
    except CompressionLayerError as exc:
        raise _fail(str(exc)) from exc
    opts = settings.tinker
    err.print(
        f"{escape(opts.base_model)} on Tinker: {settings.iters} steps of {settings.batch_size} "
        f"rows, rank {opts.rank}, lr {opts.learning_rate} ({opts.lr_schedule}), "
        f"eval every {settings.steps_per_eval} steps",
        highlight=False,
    )
    out_console.print(_estimate_table(est))
    out_console.print(escape(est.note), highlight=False)
    if dry_run:
        return
    from compression_layer.training.tinker.train import train_tinker

    try:
        result = train_tinker(
            settings,
            command=shlex.join(["compression-layer", *sys.argv[1:]]),
            fresh=fresh,
            register=register,
            log=lambda m: err.print(escape(m), highlight=False),
        )
    except CompressionLayerError as exc:
        raise _fail(str(exc)) from exc
    m = result.metrics
    if result.resumed_from:
        out_console.print(f"resumed from step {result.resumed_from}", highlight=False)
    parts = [f"steps {m.get('steps', 0)}", f"trained tokens {m.get('trained_tokens', 0):,}"]
    if "train_loss_first" in m:
        parts.append(f"train loss {m['train_loss_first']} -> {m['train_loss_last10']} (last 10)")
    if "val_loss_first" in m:
        parts.append(f"val loss {m['val_loss_first']} -> {m['val_loss_last']}")
    parts.append(f"cost ~${m.get('cost_usd', 0):.2f}")
    out_console.print("; ".join(parts), highlight=False)
    out_console.print(f"run folder: {result.run_dir} (run.json, curve.png)", highlight=False)
    out_console.print(f"PEFT adapter (vLLM): {result.peft_dir}", highlight=False)
    out_console.print(f"MLX adapter: {result.adapter_dir}", highlight=False)
    if result.record.sampler_path:
        out_console.print(f"Tinker sampler weights: {result.record.sampler_path}", highlight=False)
    if result.registered_as:
        out_console.print(
            f"registered generative adapter {result.registered_as!r}; promote it with "
            f"`compression-layer adapters promote {result.registered_as}`",
            highlight=False,
        )


def register(app: typer.Typer) -> None:
    """Add ``tinker`` to the ``train`` app."""
    app.command("tinker")(tinker)
