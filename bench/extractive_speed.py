"""Extractive latency and throughput, three rounds each, for the packaged adapter or folders.

    .venv/bin/python bench/extractive_speed.py [FOLDER ...] > bench/results/extractive-speed.jsonl

Latency: p50/p95 of single ``compress`` calls on 40 inputs of about 500 o200k tokens (held-out
SQuAD articles, warm, in process) at the adapter's default rate. Throughput: input tokens/s of
``compress_batch`` in batches of 16 over 64 such inputs. One JSON line per adapter.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from compression_layer.compress.extractive.engine import ExtractiveEngine
from compression_layer.training.evaluate import compress as ev
from compression_layer.training.evaluate.speed import inputs_of_tokens, latency, throughput

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def main() -> int:
    contexts = [it.context for it in ev.load_squad(DATA, range(4, 8))]
    for folder in sys.argv[1:] or [None]:
        engine = ExtractiveEngine.load(Path(folder) if folder else None)
        texts = inputs_of_tokens(contexts, 500, 40)
        runs = [latency(engine, texts, rate=engine.default_rate) for _ in range(3)]
        batched = inputs_of_tokens(contexts, 500, 64)
        tput = [throughput(engine, batched) for _ in range(3)]
        row = {"adapter": folder or "packaged", "latency_runs": runs, "throughput_runs": tput}
        print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
