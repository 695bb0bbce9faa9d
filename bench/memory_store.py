"""Store throughput with compression: LoCoMo turns through ``store_many`` (batches of 256), the
default compressor and the packaged MiniLM embedder, nothing memoised, each round in a fresh
store. Two compressors in alternating rounds, so both see the same machine load:

- ``batched``: the store's default (``memory.compressing.DefaultCompressor``): a batch's prose
  scored in one encoder pass;
- ``per_memory``: ``compression_layer.compress`` called once per memory (the store before).

Also: embedding only (``compress=False``), and how many memories both compressors stored with the
same compressed text. Median of rounds (memories per second, and CPU milliseconds per memory
over all threads: the work done, which a loaded machine does not stretch), load average before
and after each round.

    nice -n 10 .venv/bin/python bench/memory_store.py [--memories 512] [--rounds 3]

Writes ``bench/results/memory_store.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import memory_locomo as locomo  # a sibling bench script: LoCoMo turns as store items
import memory_tags as shared  # git_commit
from compression_layer.memory import MemoryStore
from compression_layer.settings import MemorySettings

OUT = Path(__file__).resolve().parent / "results" / "memory_store.json"
BATCH = 256


def per_memory(text: str) -> Any:
    from compression_layer import compress

    return compress(text)


async def one_round(
    tmp: Path, name: str, items: list[dict[str, Any]], compress: bool
) -> tuple[float, float, dict[str, str]]:
    settings = MemorySettings(near_duplicate_policy="keep")
    kwargs: dict[str, Any] = {"compressor": per_memory} if name == "per_memory" else {}
    path = tmp / f"{name}-{time.monotonic_ns()}.db"
    async with MemoryStore.open(path, settings=settings, **kwargs) as store:
        # Loads the models and imports their libraries (once per process; not measured).
        await store.store_many(["warm up the engines.", "and once more."], namespace="warm")
        start, start_cpu = time.perf_counter(), time.process_time()
        stored = []
        for i in range(0, len(items), BATCH):
            stored += await store.store_many(items[i : i + BATCH], namespace="t", compress=compress)
        seconds = time.perf_counter() - start
        cpu_ms = (time.process_time() - start_cpu) / len(items) * 1000
    return len(items) / seconds, cpu_ms, {m.content: m.compressed for m in stored}


async def run(n: int, rounds: int) -> dict[str, Any]:
    turns, _ = locomo.load()
    items = [it for its in turns.values() for it in its][:n]
    rates: dict[str, list[float]] = {"batched": [], "per_memory": [], "embed_only": []}
    cpu: dict[str, list[float]] = {name: [] for name in rates}
    outs: dict[str, dict[str, str]] = {}
    loads: list[float] = []
    same = 0
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(rounds):
            loads.append(os.getloadavg()[0])
            for name in rates:
                rate, cpu_ms, out = await one_round(Path(tmp), name, items, name != "embed_only")
                rates[name].append(rate)
                cpu[name].append(cpu_ms)
                outs[name] = out
            loads.append(os.getloadavg()[0])
            out_b, out_p = outs["batched"], outs["per_memory"]
            same = sum(out_b[c] == out_p.get(c) for c in out_b)
            print({k: round(v[-1], 1) for k, v in rates.items()}, "load", loads[-1], flush=True)
    return {
        "memories": len(items),
        "batch": BATCH,
        "rounds": rounds,
        "per_s_median": {k: round(statistics.median(v), 1) for k, v in rates.items()},
        "per_s_rounds": {k: [round(x, 1) for x in v] for k, v in rates.items()},
        # CPU time of this process (all threads) per memory: the work, whatever the load.
        "cpu_ms_per_memory_median": {k: round(statistics.median(v), 2) for k, v in cpu.items()},
        "same_compressed_text": f"{same}/{len(items)}",
        "load_avg_1min": loads,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memories", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    report = asyncio.run(run(args.memories, args.rounds))
    report["machine"] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
    }
    report["commit"] = shared.git_commit()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report, indent=2))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
