"""``compression-layer adapters``: list, register, promote, activate, rollback, show.

Every failure prints one clear message on stderr and exits with status 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from compression_layer.adapters.registry import (
    AdapterRecord,
    AdapterRegistry,
    json_dump,
)
from compression_layer.errors import CompressionLayerError

if TYPE_CHECKING:
    from compression_layer.training.gate import GateDecision

app = typer.Typer(
    help="Adapter registry: register, gate-checked promotion, activation and rollback.",
    no_args_is_help=True,
)
out = Console()
err = Console(stderr=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="print JSON instead of a table")]


def _fail(message: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    return typer.Exit(2)


def _record_line(record: AdapterRecord, active: bool) -> str:
    mark = " (active)" if active else ""
    return f"{record.kind} adapter {record.name!r}{mark} at {record.path}"


def _decision(decision: GateDecision) -> None:
    table = Table(title=f"gate: {decision.candidate} ({'pass' if decision.passed else 'refused'})")
    for col in ("metric", "candidate", f"active ({decision.baseline_name or 'none'})"):
        table.add_column(col)
    for metric in ("token_reduction", "fact_retention", "answer_retention"):
        old = getattr(decision.baseline, metric) if decision.baseline else None
        new = getattr(decision.metrics, metric)
        table.add_row(metric, f"{new:.4f}", "-" if old is None else f"{old:.4f}")
    out.print(table)


@app.command("list")
def list_cmd(as_json: JsonFlag = False) -> None:
    """List registered adapters and which one of each kind is active."""
    registry = AdapterRegistry()
    try:
        state = registry.load()
    except CompressionLayerError as exc:
        raise _fail(str(exc)) from exc
    records = registry.list()
    if as_json:
        out.print_json(json_dump(records))
        return
    table = Table(title=f"adapters ({registry.root})")
    for col in ("name", "kind", "active", "base model", "created", "metrics"):
        table.add_column(col)
    for r in records:
        metrics = ", ".join(f"{k}={v}" for k, v in sorted(r.manifest.metrics.items())[:4])
        active = "yes" if state.active.get(r.kind) == r.name else ""
        created = r.manifest.created_at.date().isoformat()
        table.add_row(r.name, r.kind, active, r.manifest.base_model, created, metrics)
    out.print(table)


@app.command()
def register(
    folder: Annotated[Path, typer.Argument(help="adapter folder (weights, configs, manifest)")],
    name: Annotated[str | None, typer.Option(help="registry name; default: folder name")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Validate an adapter folder and copy it into the registry (every problem is listed)."""
    try:
        record = AdapterRegistry().register(folder, name)
    except CompressionLayerError as exc:
        raise _fail(str(exc)) from exc
    if as_json:
        out.print_json(json_dump(record))
    else:
        out.print(f"registered {_record_line(record, False)}", highlight=False)


@app.command()
def promote(
    name: Annotated[str, typer.Argument(help="registered adapter to promote")],
    evaluator: Annotated[
        str,
        typer.Option(
            help="training: `eval adapter`'s held-out SQuAD scoring; builtin: the registry's own"
        ),
    ] = "training",
    data: Annotated[
        Path | None, typer.Option(help="shared data folder for --evaluator training")
    ] = None,
    limit: Annotated[int, typer.Option(help="held-out contexts scored per adapter")] = 20,
    as_json: JsonFlag = False,
) -> None:
    """Run the gate against the active adapter of the same kind and activate on success."""
    if evaluator not in ("training", "builtin"):
        raise _fail(f"--evaluator must be training or builtin, got {evaluator!r}")
    from compression_layer.training import gate  # scores with the engines: heavy, so here

    try:
        if evaluator == "training":
            from compression_layer.training.evaluate.adapters import gate_evaluator

            decision = gate.promote(AdapterRegistry(), name, gate_evaluator(data, limit=limit))
        else:
            decision = gate.promote(AdapterRegistry(), name)
    except gate.GateRefused as exc:
        if as_json:
            out.print_json(json_dump(exc.decision))
        else:
            _decision(exc.decision)
        raise _fail(str(exc)) from exc
    except CompressionLayerError as exc:
        raise _fail(str(exc)) from exc
    if as_json:
        out.print_json(json_dump(decision))
    else:
        _decision(decision)
        out.print(f"promoted {name!r}: now the active {decision.kind} adapter")


@app.command()
def activate(name: Annotated[str, typer.Argument(help="registered adapter")]) -> None:
    """Make an adapter active without the gate (an explicit operator decision)."""
    try:
        record = AdapterRegistry().activate(name)
    except CompressionLayerError as exc:
        raise _fail(str(exc)) from exc
    out.print(f"activated {_record_line(record, True)}")


@app.command()
def rollback(kind: Annotated[str, typer.Argument(help="generative | extractive")]) -> None:
    """Return a kind to the adapter that was active before the current one."""
    try:
        record = AdapterRegistry().rollback(kind)
    except CompressionLayerError as exc:
        raise _fail(str(exc)) from exc
    if record is None:
        out.print(f"rolled back: no {kind} adapter is active now (the default is used)")
    else:
        out.print(f"rolled back to {_record_line(record, True)}")


@app.command()
def show(name: Annotated[str, typer.Argument(help="registered adapter")]) -> None:
    """Show one adapter's manifest, location and last gate decision as JSON."""
    try:
        record = AdapterRegistry().show(name)
    except CompressionLayerError as exc:
        raise _fail(str(exc)) from exc
    out.print_json(json_dump(record))
