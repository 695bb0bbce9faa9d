"""MiniLM embedding throughput by batch size, and the memory store's write rate.

Texts are LoCoMo turns (what an agent memory holds: 10-80 word pieces). For each batch size,
``embeddings.embed`` over 512 turns, median of 3 runs; then ``MemoryStore.store_many`` of 512
turns (batches of 256) with the default compressor and embedder, with and without compression.
Small batches win on a small CPU: sorted by length, 8 texts pad little, and the ONNX session's
working set stays in cache.

    nice -n 10 .venv/bin/python bench/embed_batch.py
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compression_layer.embeddings import embed
from compression_layer.memory import MemoryStore
from compression_layer.settings import MemorySettings
from memory_locomo import load

OUT = Path(__file__).resolve().parent / "results" / "embed_batch.json"
N = 512


async def store_rate(items: list[dict[str, Any]], compress: bool) -> float:
    settings = MemorySettings(near_duplicate_policy="keep")
    with tempfile.TemporaryDirectory() as tmp:
        async with MemoryStore.open(Path(tmp) / "m.db", settings=settings) as store:
            await store.store("warm up the engines", namespace="warm", compress=compress)
            start = time.perf_counter()
            for i in range(0, len(items), 256):
                await store.store_many(items[i : i + 256], namespace="t", compress=compress)
            return len(items) / (time.perf_counter() - start)


def main() -> None:
    turns, _ = load()
    items = [it for conv in turns.values() for it in conv][:N]
    texts = [it["content"] for it in items]
    embed(["warm up"])
    report: dict[str, Any] = {
        "texts": N,
        "cpus": os.cpu_count(),
        "load_avg_at_start": os.getloadavg(),
    }
    rates: dict[str, float] = {}
    for size in (4, 8, 16, 32, 64, 128):
        runs = []
        for _ in range(3):
            start = time.perf_counter()
            embed(texts, batch_size=size)
            runs.append(N / (time.perf_counter() - start))
        rates[str(size)] = round(statistics.median(runs), 1)
        print(size, rates[str(size)], flush=True)
    report["embed_per_s_by_batch"] = rates
    for compress in (False, True):
        runs = [asyncio.run(store_rate(items, compress)) for _ in range(3)]
        key = "store_with_compression_per_s" if compress else "store_embed_only_per_s"
        report[key] = round(statistics.median(runs), 1)
        print(key, report[key], flush=True)
    report["load_avg_at_end"] = os.getloadavg()
    OUT.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
