"""``compression-layer eval compress``: score the extractive engine against baselines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from compression_layer.cli import eval_adapter
from compression_layer.errors import CompressionLayerError

app = typer.Typer(help="Evaluate engines and adapters.", no_args_is_help=True)
out_console = Console()
err = Console(stderr=True)

METHODS = ["extractive", "extractive+query", "random", "random+facts", "stopword", "structural"]


@app.callback()
def _group() -> None:
    """Evaluate engines and adapters on the shared data."""


def run_eval(
    data: Path,
    adapter: Path | None,
    rates: list[float],
    *,
    limit: int | None = None,
    speed: bool = True,
) -> dict[str, Any]:
    """All datasets x methods x rates, plus latency/throughput; the dict the JSON holds."""
    from compression_layer.compress.extractive.engine import ExtractiveEngine
    from compression_layer.training.evaluate import compress as ev
    from compression_layer.training.evaluate.speed import inputs_of_tokens, latency, throughput

    engine = ExtractiveEngine.load(adapter)
    # The adapter's default rate is always measured: its targets are stated there.
    rates = sorted({*rates, engine.default_rate})
    nq = ev.load_nq(data)
    sets = {
        "seed-valid": ev.load_seed_valid(data),
        "squad-tune (articles 0-3)": ev.load_squad(data, range(0, 4)),
        "squad-heldout (articles 4-7)": ev.load_squad(data, range(4, 8)),
        # Rows 0-399 tuned the engine's biases; 400 on were never looked at while tuning.
        "nq-tune (rows 0-399)": nq[:400],
        "nq-heldout (rows 400+)": nq[400:],
    }
    report: dict[str, Any] = {
        "adapter": engine.adapter_name,
        "default_rate": engine.default_rate,
        "rates": rates,
        "datasets": {},
    }
    for name, items in sets.items():
        items = items[:limit] if limit else items
        methods = [m for m in METHODS if not (name == "seed-valid" and m.endswith("query"))]
        if name == "seed-valid":
            methods.append("teacher")
        err.print(f"evaluating {name}: {len(items)} contexts", highlight=False)
        report["datasets"][name] = ev.evaluate(engine, items, methods, rates)
    if speed:
        contexts = [it.context for it in sets["squad-heldout (articles 4-7)"]]
        texts = inputs_of_tokens(contexts, 500, 40)
        report["latency_500_tokens"] = latency(engine, texts, rate=engine.default_rate)
        report["throughput"] = throughput(engine, inputs_of_tokens(contexts, 500, 64))
    return report


def summary_table(report: dict[str, Any], rate: str) -> Table:
    """One row per dataset x method at ``rate`` (or the method's only rate)."""
    table = Table(title=f"prose compression at rate {rate} (adapter {report['adapter']})")
    for col in ("dataset", "method", "reduction", "facts", "answers", "strict"):
        table.add_column(col, justify="left" if col in ("dataset", "method") else "right")
    for dname, methods in report["datasets"].items():
        for method, per_rate in methods.items():
            row = per_rate.get(rate) or next(iter(per_rate.values()))
            table.add_row(
                dname,
                method,
                f"{row['token_reduction']:.1%}",
                f"{row['facts_kept']:.3f}",
                f"{row['answer_retention']:.3f}" if "answer_retention" in row else "-",
                f"{row['answer_retention_strict']:.3f}" if "answer_retention" in row else "-",
            )
    return table


@app.command("compress")
def compress_eval(
    data: Annotated[Path, typer.Option(help="shared data folder")] = Path("../shared/data"),
    adapter: Annotated[Path | None, typer.Option(help="adapter folder (default: packaged)")] = None,
    rate: Annotated[list[float] | None, typer.Option(help="rates to evaluate (repeat)")] = None,
    limit: Annotated[int | None, typer.Option(help="contexts per dataset (quick look)")] = None,
    out: Annotated[Path | None, typer.Option(help="write the JSON report here")] = None,
    speed: Annotated[bool, typer.Option(help="also measure latency and throughput")] = True,
) -> None:
    """Token reduction, facts kept and answer retention vs random/stopword/structural baselines."""
    if not data.is_dir():
        err.print(f"[bold red]error:[/] data folder not found: {data}", highlight=False)
        raise typer.Exit(2)
    rates = rate or [0.5]  # plus the adapter's default rate, always
    try:
        report = run_eval(data, adapter, rates, limit=limit, speed=speed)
    except CompressionLayerError as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(2) from exc
    for shown in report["rates"]:
        out_console.print(summary_table(report, f"{shown:.2f}"))
    if speed:
        out_console.print(f"latency (500 tokens): {report['latency_500_tokens']}")
        out_console.print(f"throughput: {report['throughput']}")
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        err.print(f"wrote {out}", highlight=False)


eval_adapter.register(app)  # eval adapter
