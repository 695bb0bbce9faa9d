"""Rendering of an :class:`AdapterEval`: JSON, a Markdown table and a grouped bar chart PNG."""

from __future__ import annotations

from pathlib import Path

from compression_layer.training.evaluate.adapters import AdapterEval

_METRICS = (
    ("token_reduction", "token reduction"),
    ("facts_kept", "facts kept"),
    ("answer_retention", "answers kept"),
)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def to_markdown(report: AdapterEval) -> str:
    """One table row per dataset x method."""
    lines = [
        f"# Adapter `{report.adapter}` ({report.kind}, base `{report.base_model}`)",
        "",
        f"Requested rate {report.rate}. Token counts in o200k_base. Answer retention: every "
        "content word of a gold answer survives (strict: the whole answer as one span).",
        "",
        "| dataset | method | items | token reduction | facts kept | answers kept | strict "
        "| latency ms (mean / p95) | empty |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for dname, methods in report.datasets.items():
        for method, s in methods.items():
            lines.append(
                f"| {dname} | {method} | {s.items} | {_pct(s.token_reduction)} "
                f"| {_pct(s.facts_kept)} | {_pct(s.answer_retention)} "
                f"| {_pct(s.answer_retention_strict)} "
                f"| {s.latency_ms_mean or '-'} / {s.latency_ms_p95 or '-'} | {s.empty_outputs} |"
            )
    if report.validation:
        v = report.validation
        models = ", ".join(v["models"])
        lines += ["", f"Cross-model validation ({models}, {v['items']} items): mean score "
                  f"{v['mean']}, passed {v['passed']}, cost ${v['cost_usd']}"]  # fmt: skip
    if report.notes:
        lines += ["", *[f"- {n}" for n in report.notes]]
    if report.examples:
        lines += ["", "## Examples", ""]
        for ex in report.examples:
            where = f"**{ex['dataset']}** item {ex.get('item', '?')}"
            lines += [f"{where} (the input stays in the shared data folder), output:", "",
                      "```", ex["output"], "```", ""]  # fmt: skip
    return "\n".join(lines) + "\n"


def plot(report: AdapterEval, out: Path) -> Path:
    """Bars of the three quality metrics for every method, one panel per dataset."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(report.datasets)
    fig, axes = plt.subplots(1, max(1, len(names)), figsize=(6 * max(1, len(names)), 4), dpi=110)
    axes_list = list(axes) if len(names) > 1 else [axes]
    for ax, dname in zip(axes_list, names, strict=False):
        methods = report.datasets[dname]
        width = 0.8 / max(1, len(methods))
        for j, (method, s) in enumerate(methods.items()):
            values = [getattr(s, key) or 0.0 for key, _ in _METRICS]
            xs = [i + j * width for i in range(len(_METRICS))]
            ax.bar(xs, values, width=width, label=method)
        ax.set_xticks([i + 0.4 - width / 2 for i in range(len(_METRICS))])
        ax.set_xticklabels([label for _, label in _METRICS])
        # a guarded output can be longer than its input: show negative reductions below zero
        low = min([0.0] + [s.token_reduction for s in methods.values()])
        ax.set_ylim(low - 0.05 if low < 0 else 0, 1)
        ax.axhline(0, color="black", linewidth=0.6)
        ax.set_title(dname)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"adapter {report.adapter} at rate {report.rate}")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out


def write_report(report: AdapterEval, stem: Path) -> list[Path]:
    """``<stem>.json``, ``<stem>.md`` and ``<stem>.png``."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    json_path = stem.with_suffix(".json")
    json_path.write_text(report.model_dump_json(indent=2) + "\n", encoding="utf-8")
    md_path = stem.with_suffix(".md")
    md_path.write_text(to_markdown(report), encoding="utf-8")
    return [json_path, md_path, plot(report, stem.with_suffix(".png"))]
