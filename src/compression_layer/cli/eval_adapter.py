"""``compression-layer eval adapter NAME``: score a registered adapter beside the extractive engine.

Writes ``<out>/<stem>.json``, ``.md`` and ``.png`` (:mod:`training.evaluate_report`) and prints a
table. Problems a user can fix (unknown adapter, no data folder, base model not on the machine,
no extractive adapter to compare with) end with one message and exit status 2, before any
model is run.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from compression_layer.errors import CompressionLayerError

if TYPE_CHECKING:
    from compression_layer.training.evaluate.adapters import AdapterEval

out_console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def _fail(message: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    return typer.Exit(2)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def summary(report: AdapterEval) -> Table:
    """One row per dataset x method."""
    table = Table(title=f"adapter {report.adapter} ({report.kind}) at rate {report.rate}")
    cols = ("dataset", "method", "items", "reduction", "facts", "answers", "strict", "ms mean")
    for col in cols:
        table.add_column(col, justify="left" if col in ("dataset", "method") else "right")
    for dname, methods in report.datasets.items():
        for method, s in methods.items():
            table.add_row(
                dname, method, str(s.items), _pct(s.token_reduction), _pct(s.facts_kept),
                _pct(s.answer_retention), _pct(s.answer_retention_strict),
                "-" if s.latency_ms_mean is None else f"{s.latency_ms_mean:,.1f}",
            )  # fmt: skip
    return table


def adapter(
    name: Annotated[
        str, typer.Argument(help="registered adapter (`compression-layer adapters list`)")
    ],
    data: Annotated[Path, typer.Option(help="shared data folder (squad/, nq-open/)")] = Path(
        "../shared/data"
    ),
    limit: Annotated[int | None, typer.Option(help="contexts per dataset")] = 40,
    rate: Annotated[float, typer.Option(help="rate asked of the adapter")] = 0.5,
    pairs: Annotated[
        Path | None, typer.Option(help="also score a pairs JSONL (no QA: facts and reduction)")
    ] = None,
    models: Annotated[
        list[str] | None,
        typer.Option(help="cross-validate a few outputs on these models (repeat; needs keys)"),
    ] = None,
    validate_limit: Annotated[int, typer.Option(help="items cross-validated")] = 5,
    base_model: Annotated[
        str | None, typer.Option(help="base model folder (default: manifest, then settings)")
    ] = None,
    extractive: Annotated[
        bool, typer.Option(help="score the extractive engine beside it at equal reduction")
    ] = True,
    extractive_adapter: Annotated[
        Path | None,
        typer.Option(help="extractive adapter compared (default: configured, active, packaged)"),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="report folder (default <data dir>/evals)")
    ] = None,
    stem: Annotated[str | None, typer.Option(help="report file name (default: NAME)")] = None,
) -> None:
    """Token reduction, facts kept, answer retention (SQuAD held-out, NQ) and latency."""
    from compression_layer.settings import data_dir
    from compression_layer.training.evaluate.adapters import evaluate_adapter
    from compression_layer.training.evaluate.report import write_report

    if not data.is_dir():
        raise _fail(
            f"data folder not found: {data} (pass --data with the folder holding squad/ and "
            "nq-open/)"
        )
    try:
        report = evaluate_adapter(
            name,
            data,
            rate=rate,
            limit=limit,
            pairs=pairs,
            compare_extractive=extractive,
            extractive_adapter=extractive_adapter,
            base_model=base_model,
            models=models or (),
            validate_limit=validate_limit,
            progress=lambda m: err.print(f"evaluating {escape(m)}", highlight=False),
        )
    except CompressionLayerError as exc:
        raise _fail(str(exc)) from exc
    if not report.datasets:
        raise _fail("; ".join(report.notes) or f"nothing to evaluate under {data}")
    out_console.print(summary(report))
    if report.validation:
        out_console.print(f"cross-model validation: {report.validation}", highlight=False)
    folder = out or data_dir() / "evals"
    files = write_report(report, folder / (stem or name))
    out_console.print("wrote " + ", ".join(str(f) for f in files), highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``adapter`` to the ``eval`` app."""
    app.command("adapter")(adapter)
