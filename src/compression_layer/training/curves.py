"""Run metrics on disk (one JSON object per line) and the training-curve PNG drawn from them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


class MetricsLog:
    """Append-only ``metrics.jsonl``: ``{"step", "train_loss", ...}`` and ``{"step", "val_loss"}``.

    A resumed run appends to the same file; :meth:`rows` drops rows past a given step so the
    steps redone after an interruption are not counted twice.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, row: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(row) + "\n")

    def rows(self) -> list[dict[str, Any]]:
        if not self.path.is_file():
            return []
        out = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line cut by an interruption
        return out

    def truncate_after(self, step: int) -> None:
        """Forget what a resumed run redoes: train rows after ``step`` (the last checkpoint)
        and validation rows from ``step`` on (the resumed run validates first thing)."""
        kept = [
            r
            for r in self.rows()
            if int(r.get("step", 0)) < step
            or (int(r.get("step", 0)) == step and "val_loss" not in r)
        ]
        self.path.write_text("".join(json.dumps(r) + "\n" for r in kept), encoding="utf-8")


def series(rows: list[dict[str, Any]], key: str) -> list[tuple[int, float]]:
    """(step, value) of every row holding ``key``, by step."""
    return sorted((int(r["step"]), float(r[key])) for r in rows if key in r)


def plot_curve(rows: list[dict[str, Any]], out: Path, title: str) -> Path:
    """Train loss (per step, with a moving average) and validation loss against the step."""
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and CI
    import matplotlib.pyplot as plt

    train = series(rows, "train_loss")
    val = series(rows, "val_loss")
    fig, ax = plt.subplots(figsize=(7, 4), dpi=120)
    if train:
        steps, values = zip(*train, strict=True)
        ax.plot(steps, values, color="#9ecae1", linewidth=0.8, label="train loss (step)")
        window = max(1, len(values) // 20)
        smooth = [
            sum(values[max(0, i - window + 1) : i + 1])
            / len(values[max(0, i - window + 1) : i + 1])
            for i in range(len(values))
        ]
        ax.plot(
            steps, smooth, color="#3182bd", linewidth=1.5, label=f"train loss ({window}-step avg)"
        )
    if val:
        steps, values = zip(*val, strict=True)
        ax.plot(steps, values, "o-", color="#e6550d", linewidth=1.5, label="validation loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (nats / token)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out
