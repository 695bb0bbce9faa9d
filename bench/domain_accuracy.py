"""Domain detector accuracy (`compression_layer.compress.domain.detect`).

Labels live in ``bench/data/domain_labels.jsonl``, one row per example:

- ``source: seed-pairs`` rows point at ``shared/data/seed-pairs/<split>.jsonl`` by line index
  (the input is the user message after ``Compress:\\n``; no data text is copied). They were
  labelled by an independent rule, not by the detector: ``ast.parse`` of the dedented text
  succeeds *and* a line starts with def/class/import/from-import/@decorator -> ``code:python``;
  neither -> ``prose`` (the rule found no mixed case in either split). Rows marked
  ``"how": "rule, read"`` were also read by a person, and every row where the detector and the
  rule disagreed during development was read (both agreed with the rule's label).
- ``source: synthetic`` rows carry their own ``text``: short snippets written for this benchmark
  for the kinds and languages absent from seed-pairs (js, ts, go, rust, java, c, cpp, shell,
  sql, json, log, mixed) plus a few prose and Python ones.

``set: dev`` rows (202 train rows + synthetic dev snippets) were used while tuning the
heuristics; ``set: heldout`` rows (all 219 valid rows + synthetic snippets) are scored, not
tuned on. History, so the numbers can be read honestly: the first held-out synthetic set (v1,
42 snippets) scored 37/42 with seed-pairs valid at 219/219; its five misses led to keyword
changes, so v1 was moved into dev (ids ``synth-dev-v1-*``) and a new held-out set (v2,
``synth-heldout-v2-*``) was written before the next and only scoring of it.
Writes ``bench/results/domain_accuracy.json``.

    .venv/bin/python bench/domain_accuracy.py
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from compression_layer.compress.domain import detect

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
LABELS = ROOT / "bench" / "data" / "domain_labels.jsonl"
RESULTS = ROOT / "bench" / "results"


def _seed_inputs(split: str) -> list[str] | None:
    path = SHARED / "seed-pairs" / f"{split}.jsonl"
    if not path.is_file():
        return None
    inputs = []
    for line in path.read_text(encoding="utf-8").splitlines():
        user = next(m["content"] for m in json.loads(line)["messages"] if m["role"] == "user")
        inputs.append(user.removeprefix("Compress:\n"))
    return inputs


def load_examples() -> list[dict[str, Any]]:
    """Label rows with their ``text`` filled in; seed-pairs rows skip when data is absent."""
    rows = [json.loads(line) for line in LABELS.read_text(encoding="utf-8").splitlines()]
    splits: dict[str, list[str] | None] = {}
    examples = []
    for row in rows:
        if row["source"] == "seed-pairs":
            split = row["split"]
            if split not in splits:
                splits[split] = _seed_inputs(split)
                if splits[split] is None:
                    print(f"skip seed-pairs/{split}: not found under {SHARED}", file=sys.stderr)
            inputs = splits[split]
            if inputs is None:
                continue
            row = {**row, "text": inputs[row["line"]]}
        examples.append(row)
    return examples


def score(examples: list[dict[str, Any]]) -> dict[str, Any]:
    """Accuracy overall and per label, a confusion matrix, and detection latency."""
    confusion: dict[str, Counter[str]] = defaultdict(Counter)
    latencies_us: list[float] = []
    errors = []
    for ex in examples:
        start = time.perf_counter()
        predicted = detect(ex["text"]).label()
        latencies_us.append((time.perf_counter() - start) * 1e6)
        confusion[ex["label"]][predicted] += 1
        if predicted != ex["label"]:
            errors.append({"id": ex["id"], "label": ex["label"], "predicted": predicted})
    per_label = {
        label: {"n": sum(row.values()), "accuracy": round(row[label] / sum(row.values()), 4)}
        for label, row in sorted(confusion.items())
    }
    kinds: dict[str, Counter[str]] = defaultdict(Counter)
    for label, row in confusion.items():
        for predicted, n in row.items():
            kinds[label.split(":")[0]]["n"] += n
            kinds[label.split(":")[0]]["right"] += n if predicted == label else 0
    correct = sum(row[label] for label, row in confusion.items())
    return {
        "n": len(examples),
        "accuracy": round(correct / max(1, len(examples)), 4),
        "per_kind": {
            k: {"n": c["n"], "accuracy": round(c["right"] / c["n"], 4)}
            for k, c in sorted(kinds.items())
        },
        "per_label": per_label,
        "confusion": {label: dict(row) for label, row in sorted(confusion.items())},
        "errors": errors,
        "latency_us": {
            "mean": round(statistics.fmean(latencies_us), 1) if latencies_us else None,
            "p95": round(sorted(latencies_us)[int(0.95 * (len(latencies_us) - 1))], 1)
            if latencies_us
            else None,
        },
    }


def main() -> None:
    examples = load_examples()
    for ex in examples:  # warm caches and imports outside the timed runs
        detect(ex["text"])
    report: dict[str, Any] = {"labels": str(LABELS.relative_to(ROOT))}
    for name in ("dev", "heldout"):
        subset = [ex for ex in examples if ex["set"] == name]
        report[name] = score(subset)
        report[name]["by_source"] = {
            source: score([ex for ex in subset if ex["source"] == source])["accuracy"]
            for source in sorted({ex["source"] for ex in subset})
        }
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "domain_accuracy.json"
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    for name in ("dev", "heldout"):
        r = report[name]
        print(f"{name}: accuracy {r['accuracy']:.3f} on {r['n']} ({r['by_source']})")
        print(
            "  per kind: " + ", ".join(f"{k} {v['accuracy']:.2f}" for k, v in r["per_kind"].items())
        )
        print(f"  latency mean {r['latency_us']['mean']} us, p95 {r['latency_us']['p95']} us")
        for err in r["errors"]:
            print(f"  miss {err['id']}: {err['label']} -> {err['predicted']}")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
