"""Extractive latency and throughput, three rounds each, for the packaged adapter or folders.

    .venv/bin/python bench/extractive_speed.py [FOLDER ...] >> bench/results/extractive-speed.jsonl

Latency: p50/p95 of single ``compress`` calls on 40 inputs of about 500 o200k tokens (held-out
SQuAD articles, warm, in process) at the adapter's default rate. Throughput: input tokens/s of
``compress_batch`` in batches of 16 over 64 such inputs. With a query: p50/p95 of single
``compress(text, query=...)`` calls on the same inputs, each with a question of its first
paragraph (the question is encoded in the same batch as the text). One JSON line per adapter,
with the 1-minute load average at its start and end (the machine is shared: quiet is < 1.5).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from compression_layer.compress.extractive.engine import ExtractiveEngine
from compression_layer.training.evaluate import compress as ev
from compression_layer.training.evaluate.speed import inputs_of_tokens, latency, throughput

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def query_latency(
    engine: ExtractiveEngine, texts: list[str], questions: list[str], rate: float = 0.5
) -> dict[str, float]:
    """p50 / p95 of single ``compress(text, query=...)`` calls (warm)."""
    for text, question in zip(texts[:3], questions[:3], strict=True):
        engine.compress(text, rate=rate, query=question)
    times: list[float] = []
    for text, question in zip(texts, questions, strict=True):
        start = time.perf_counter()
        engine.compress(text, rate=rate, query=question)
        times.append((time.perf_counter() - start) * 1000)
    return {
        "p50_ms": round(float(np.percentile(times, 50)), 2),
        "p95_ms": round(float(np.percentile(times, 95)), 2),
    }


def main() -> int:
    items = ev.load_squad(DATA, range(4, 8))
    contexts = [it.context for it in items]
    first_question = {it.context[:200]: it.questions[0][0] for it in items}
    for folder in sys.argv[1:] or [None]:
        load_at_start = os.getloadavg()[0]
        engine = ExtractiveEngine.load(Path(folder) if folder else None)
        texts = inputs_of_tokens(contexts, 500, 40)
        runs = [latency(engine, texts, rate=engine.default_rate) for _ in range(3)]
        questions = [first_question.get(t[:200], "What is this about?") for t in texts]
        query_runs = [query_latency(engine, texts, questions) for _ in range(3)]
        batched = inputs_of_tokens(contexts, 500, 64)
        tput = [throughput(engine, batched) for _ in range(3)]
        row = {
            "adapter": folder or "packaged",
            "latency_runs": runs,
            "query_latency_runs": query_runs,
            "throughput_runs": tput,
            "run": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "load_average_1m": {"start": load_at_start, "end": os.getloadavg()[0]},
            "median": {
                "p50_ms": float(np.median([r["p50_ms"] for r in runs])),
                "p50_ms_query": float(np.median([r["p50_ms"] for r in query_runs])),
                "tokens_per_s": float(np.median([r["tokens_per_s"] for r in tput])),
            },
        }
        print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
