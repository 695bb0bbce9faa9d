"""Benchmark of the extractive engine: quality vs baselines, latency, throughput, ablation.

    .venv/bin/python bench/extractive.py                      # packaged adapter, all datasets
    .venv/bin/python bench/extractive.py --ablation /tmp/abl  # + one row per adapter folder there

Writes ``bench/results/extractive.json`` and ``extractive.png`` (answer retention against token
reduction per method and dataset); with ``--ablation``, ``extractive-ablation.json``. Needs
``../shared/data``; exits with a message when it is absent.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "bench" / "results"
RATES = [0.3, 0.4, 0.5, 0.6, 0.7]


def answer_panels(report: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(dataset, methods) of every dataset with answers, in report order."""
    return [
        (name, methods)
        for name, methods in report["datasets"].items()
        if any("answer_retention" in r for m in methods.values() for r in m.values())
    ]


def draw(ax: Any, name: str, methods: dict[str, Any]) -> None:
    """Answer retention (y) against token reduction (x), one line per method."""
    for method, per_rate in methods.items():
        rows = sorted(per_rate.values(), key=lambda r: r["token_reduction"])
        xs = [r["token_reduction"] * 100 for r in rows]
        ys = [r["answer_retention"] for r in rows]
        ax.plot(xs, ys, marker="o", label=method)
    ax.axhline(0.95, color="grey", lw=0.6, ls="--")
    ax.axvline(50, color="grey", lw=0.6, ls=":")
    ax.set_title(name, fontsize=10)
    ax.set_xlabel("token reduction (%, o200k)")
    ax.set_ylabel("answer retention")
    ax.set_ylim(0.3, 1.01)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")


def slug(name: str) -> str:
    """A file-name form of a dataset name."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def plot(report: dict[str, Any], path: Path) -> list[Path]:
    """All datasets side by side in ``path``, and one PNG per dataset next to it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = answer_panels(report)
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.4), squeeze=False)
    for ax, (name, methods) in zip(axes[0], panels, strict=True):
        draw(ax, name, methods)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    written = [path]
    for name, methods in panels:
        fig, ax = plt.subplots(figsize=(5.6, 4.6))
        draw(ax, name, methods)
        fig.tight_layout()
        each = path.with_name(f"{path.stem}-{slug(name)}.png")
        fig.savefig(each, dpi=110)
        plt.close(fig)
        written.append(each)
    return written


def hotpot_heldout(
    data: Path, adapter: Path | None, rates: list[float], limit: int | None
) -> dict[str, Any]:
    """Multi-paragraph held-out contexts (``meaning.hotpot_style``): engine and baselines."""
    from compression_layer.compress.extractive.engine import ExtractiveEngine
    from compression_layer.training.evaluate import compress as ev
    from meaning import hotpot_style

    items = hotpot_style(ev.load_squad(data, range(4, 8)), ev.load_nq(data)[400:])
    engine = ExtractiveEngine.load(adapter)
    methods = ["extractive", "extractive+query", "random+facts", "stopword"]
    return ev.evaluate(engine, items[:limit] if limit else items, methods, rates)


def ablation(folder: Path, data: Path) -> list[dict[str, Any]]:
    """Quality at rate 0.5 (held-out SQuAD, NQ) and latency of every adapter in ``folder``."""
    from compression_layer.adapters.manifest import read_manifest
    from compression_layer.compress.extractive.engine import ExtractiveEngine
    from compression_layer.training.evaluate import compress as ev
    from compression_layer.training.evaluate.speed import inputs_of_tokens, latency

    squad = ev.load_squad(data, range(4, 8))
    nq = ev.load_nq(data)[400:]  # held out: rows 0-399 tuned the biases
    texts = inputs_of_tokens([it.context for it in squad], 500, 30)
    rows: list[dict[str, Any]] = []
    for adapter in sorted(p for p in folder.iterdir() if (p / "manifest.json").is_file()):
        engine = ExtractiveEngine.load(adapter)
        cfg = engine.adapter.config
        row: dict[str, Any] = {
            "adapter": adapter.name,
            "layers": cfg.layers,
            "quantize": cfg.quantize,
        }
        for name, items in (("squad-heldout", squad), ("nq-heldout", nq)):
            res = ev.evaluate(engine, items, ["extractive"], [0.5])["extractive"]["0.50"]
            row[name] = {k: res[k] for k in ("token_reduction", "answer_retention")}
        row["valid_auc"] = read_manifest(adapter).metrics["valid"]["auc"]
        row["latency_500"] = latency(engine, texts)
        rows.append(row)
        print(json.dumps(row), file=sys.stderr)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--adapter", type=Path, default=None)
    parser.add_argument("--ablation", type=Path, default=None)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's)"
    )
    args = parser.parse_args()
    if not args.data.is_dir():
        print(f"shared data not found at {args.data}: nothing to benchmark", file=sys.stderr)
        return 0
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    from compression_layer.cli.eval import run_eval, summary_table

    if args.threads:
        torch.set_num_threads(args.threads)
    RESULTS.mkdir(parents=True, exist_ok=True)
    report = run_eval(args.data, args.adapter, RATES, limit=args.limit)
    report["datasets"]["hotpot-style held-out"] = hotpot_heldout(
        args.data, args.adapter, report["rates"], args.limit
    )
    report["torch_threads"] = torch.get_num_threads()
    report["cpu_count"] = os.cpu_count()
    report["load_average"] = os.getloadavg()
    (RESULTS / "extractive.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    plot(report, RESULTS / "extractive.png")
    from rich.console import Console

    console = Console()
    console.print(summary_table(report, f"{report['default_rate']:.2f}"))
    console.print(summary_table(report, "0.50"))
    console.print(report["latency_500_tokens"], report["throughput"])
    if args.ablation:
        rows = ablation(args.ablation, args.data)
        path = RESULTS / "extractive-ablation.json"
        path.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
