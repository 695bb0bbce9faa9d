"""``compression-layer adapters``: list, register, promote, activate, rollback, show.

``list`` and ``show`` include the adapter packaged with the library (``extractive-default``):
it is never copied into the registry, and it is what serves its kind while no adapter of that
kind is active (a configured ``compress.extractive_adapter`` folder comes before it in a
server). Every failure prints one clear message on stderr and exits with status 2.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from compression_layer.errors import CompressionLayerError

if TYPE_CHECKING:
    from pydantic import BaseModel

    from compression_layer.adapters.registry import AdapterRecord, AdapterRegistry
    from compression_layer.training.gate import GateDecision

app = typer.Typer(
    help="Adapter registry: register, gate-checked promotion, activation and rollback.",
    no_args_is_help=True,
)
out = Console()
err = Console(stderr=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="print JSON instead of a table")]


def _registry() -> AdapterRegistry:
    # Imported here, not at module level: `compression-layer --help` must not load pydantic
    # models and settings for every command group.
    from compression_layer.adapters.registry import AdapterRegistry

    return AdapterRegistry()


def _json(obj: BaseModel | Sequence[BaseModel]) -> str:
    from compression_layer.adapters.registry import json_dump

    return json_dump(obj)


def _fail(message: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    return typer.Exit(2)


def _record_line(record: AdapterRecord, active: bool) -> str:
    mark = " (active)" if active else ""
    return f"{record.kind} adapter {record.name!r}{mark} at {record.path}"


def _flat_metrics(metrics: dict[str, Any]) -> list[str]:
    """``key=value`` of numeric metrics, one level of nesting spelled ``valid.auc``."""
    flat: list[str] = []
    for key, value in metrics.items():
        if isinstance(value, dict):
            flat.extend(f"{key}.{k}={v}" for k, v in value.items() if _number(v))
        elif _number(value):
            flat.append(f"{key}={value}")
    return flat


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _decision(decision: GateDecision) -> None:
    table = Table(title=f"gate: {decision.candidate} ({'pass' if decision.passed else 'refused'})")
    against = decision.baseline_name or "none"
    if decision.baseline_source == "packaged":
        against += ", built-in default"
    for col in ("metric", "candidate", f"serving now ({against})"):
        table.add_column(col)
    for metric in ("token_reduction", "fact_retention", "answer_retention"):
        old = getattr(decision.baseline, metric) if decision.baseline else None
        new = getattr(decision.metrics, metric)
        table.add_row(metric, f"{new:.4f}", "-" if old is None else f"{old:.4f}")
    out.print(table)


@app.command("list")
def list_cmd(as_json: JsonFlag = False) -> None:
    """List the built-in default and the registered adapters, and which serves each kind.

    The packaged adapter is listed first with source ``packaged``; it is active ("default")
    while no registered adapter of its kind is.
    """
    registry = _registry()
    try:
        state = registry.load()
        records = [*registry.packaged_records(), *registry.list()]
    except CompressionLayerError as exc:
        raise _fail(str(exc)) from exc

    def active(r: AdapterRecord) -> bool:
        pointer = state.active.get(r.kind)
        return pointer is None if r.builtin else pointer == r.name

    if as_json:
        rows = [{**r.model_dump(mode="json"), "active": active(r)} for r in records]
        out.print_json(json.dumps(rows))
        return
    table = Table(title=f"adapters ({registry.root})")
    # Base model, dates and the full manifest are in `adapters show NAME`.
    for col in ("name", "kind", "source", "active"):
        table.add_column(col, no_wrap=True)
    table.add_column("metrics", min_width=16)
    for r in records:
        metrics = ", ".join(_flat_metrics(r.manifest.metrics)[:3])
        source = "built-in" if r.builtin else "registry"
        mark = ("default" if r.builtin else "yes") if active(r) else ""
        table.add_row(r.name, r.kind, source, mark, metrics)
    out.print(table)


@app.command()
def register(
    folder: Annotated[Path, typer.Argument(help="adapter folder (weights, configs, manifest)")],
    name: Annotated[str | None, typer.Option(help="registry name; default: folder name")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Validate an adapter folder and copy it into the registry (every problem is listed)."""
    try:
        record = _registry().register(folder, name)
    except CompressionLayerError as exc:
        raise _fail(str(exc)) from exc
    if as_json:
        out.print_json(_json(record))
    else:
        out.print(f"registered {_record_line(record, False)}", highlight=False)


@app.command()
def promote(
    name: Annotated[str, typer.Argument(help="registered adapter to promote")],
    evaluator: Annotated[
        str,
        typer.Option(
            help="training: `eval adapter`'s held-out SQuAD scoring; builtin: the gate's own "
            "small held-out set"
        ),
    ] = "training",
    data: Annotated[
        Path | None, typer.Option(help="shared data folder for --evaluator training")
    ] = None,
    limit: Annotated[int, typer.Option(help="held-out contexts scored per adapter")] = 20,
    as_json: JsonFlag = False,
) -> None:
    """Gate an adapter against what serves its kind now (the active adapter, else the built-in
    default) and make it active if it passes."""
    from compression_layer.training import gate  # scores with the engines: heavy, so here

    try:
        score = gate.evaluator_named(evaluator, data=data, limit=limit)
        decision = gate.promote(_registry(), name, score)
    except gate.GateRefused as exc:
        if as_json:
            out.print_json(_json(exc.decision))
        else:
            _decision(exc.decision)
        raise _fail(str(exc)) from exc
    except CompressionLayerError as exc:
        raise _fail(str(exc)) from exc
    if as_json:
        out.print_json(_json(decision))
    else:
        _decision(decision)
        out.print(f"promoted {name!r}: now the active {decision.kind} adapter")


@app.command()
def activate(name: Annotated[str, typer.Argument(help="registered adapter")]) -> None:
    """Make an adapter active without the gate (an explicit operator decision)."""
    try:
        record = _registry().activate(name)
    except CompressionLayerError as exc:
        raise _fail(str(exc)) from exc
    out.print(f"activated {_record_line(record, True)}")


@app.command()
def rollback(kind: Annotated[str, typer.Argument(help="generative | extractive")]) -> None:
    """Return a kind to the adapter that was active before the current one."""
    try:
        record = _registry().rollback(kind)
    except CompressionLayerError as exc:
        raise _fail(str(exc)) from exc
    if record is None:
        default = (
            "the default serves (the configured extractive_adapter folder, else the built-in "
            "extractive-default)"
            if kind == "extractive"
            else "none serves"
        )
        out.print(f"rolled back: no {kind} adapter is active now; {default}", highlight=False)
    else:
        out.print(f"rolled back to {_record_line(record, True)}")


@app.command()
def show(
    name: Annotated[str, typer.Argument(help="registered adapter, or the built-in one")],
) -> None:
    """Show one adapter's manifest, location, source and last gate decision as JSON."""
    try:
        record = _registry().show(name)
    except CompressionLayerError as exc:
        raise _fail(str(exc)) from exc
    out.print_json(_json(record))
