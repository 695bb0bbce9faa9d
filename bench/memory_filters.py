"""Scoped and metadata-filtered reads at scale: ``list`` (and ``search``) latency at N memories.

One namespace of N memories (words drawn from LoCoMo's turns, as ``bench/memory_tags.py``).
Memory i is unscoped when i % 10 == 0, else belongs to user ``u<i % 100>`` (about 1% each), and
to run ``r<i % 7>`` when i % 3 == 0. Its metadata: ``i``, ``priority`` (i % 5), ``kind`` (one of
four), ``due`` (an ISO date, i % 365 days after 2024-01-01). Measured through the real
``MemoryStore`` (SQLite), each case a page of 50 (``list``) or k=10 (``search``, hybrid, cheap
random vectors), p50/p95 over several values and rounds, the load average recorded (the
machine is shared):

    nice -n 10 .venv/bin/python bench/memory_filters.py [--size 100000]

Results go to ``bench/results/memory_filters.json`` (with the store rate of the batched,
uncompressed writes that fill the namespace: memories per second including the metadata index).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

# a sibling bench script: vocabulary, cheap embedder, summary statistics
import memory_tags as shared
from compression_layer.memory import MemoryStore
from compression_layer.settings import MemorySettings

OUT = Path(__file__).resolve().parent / "results" / "memory_filters.json"
NS = "bench"
KINDS = ["call", "mail", "chat", "note"]
START = date(2024, 1, 1)


def items(n: int, vocab: list[str]) -> list[dict[str, Any]]:
    rng = random.Random(n)
    out = []
    for i in range(n):
        item: dict[str, Any] = {
            "content": f"note {i}: " + " ".join(rng.choices(vocab, k=rng.randint(10, 30))),
            "metadata": {
                "i": i,
                "priority": i % 5,
                "kind": KINDS[i % 4],
                "due": (START + timedelta(days=i % 365)).isoformat(),
            },
        }
        if i % 10:
            item["user_id"] = f"u{i % 100}"
            if i % 3 == 0:
                item["run_id"] = f"r{i % 7}"
        out.append(item)
    return out


def cases() -> dict[str, list[dict[str, Any]]]:
    """Each case: several keyword sets for ``list``/``search`` (values vary, the shape not)."""
    users = [f"u{u}" for u in (1, 13, 27, 42, 58, 71, 89, 99, 5, 33)]
    weeks = [(START + timedelta(days=7 * w)).isoformat() for w in range(1, 11)]
    week_end = [(START + timedelta(days=7 * w + 7)).isoformat() for w in range(1, 11)]
    return {
        "unfiltered (all scopes)": [{"all_scopes": True}],
        "no scope (10% of rows)": [{}],
        "user scope (~0.9%)": [{"user_id": u} for u in users],
        "user, all runs (~0.9%)": [{"user_id": u, "all_scopes": True} for u in users],
        "all scopes, priority eq (20%)": [
            {"all_scopes": True, "filters": {"priority": p}} for p in range(5)
        ],
        "all scopes, kind in 2 (50%)": [
            {"all_scopes": True, "filters": {"kind": {"in": KINDS[k : k + 2]}}} for k in range(3)
        ],
        "all scopes, due in one week (~2%)": [
            {"all_scopes": True, "filters": {"due": {"gte": a, "lt": b}}}
            for a, b in zip(weeks, week_end, strict=True)
        ],
        "all scopes, i in a range of 10 (0.01%)": [
            {"all_scopes": True, "filters": {"i": {"gte": s, "lt": s + 10}}}
            for s in range(5_000, 95_000, 10_000)
        ],
        "user + due in one week (~0.02%)": [
            {"user_id": u, "all_scopes": True, "filters": {"due": {"gte": a, "lt": b}}}
            for u, a, b in zip(users, weeks, week_end, strict=True)
        ],
    }


async def timed(call: Any, args: list[dict[str, Any]], rounds: int) -> dict[str, Any]:
    seconds = []
    cpu = []
    found = []
    for _ in range(rounds):
        for kw in args:
            t0, c0 = time.perf_counter(), time.process_time()
            result = await call(**kw)
            seconds.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
            found.append(len(result.items) if hasattr(result, "items") else len(result))
    out: dict[str, Any] = shared.summary(seconds)
    # CPU seconds of this process (all its threads): the cost without other tenants of a
    # loaded machine stretching the wall clock.
    out["cpu_p50_ms"] = round(sorted(cpu)[len(cpu) // 2] * 1000, 2)
    out["results_min"] = min(found)
    return out


async def run(size: int, rounds_search: int) -> dict[str, Any]:
    vocab, questions = shared.words_and_questions()
    data = items(size, vocab)
    settings = MemorySettings(synchronous="NORMAL", near_duplicate_policy="keep")
    with tempfile.TemporaryDirectory() as tmp:
        async with MemoryStore.open(
            Path(tmp) / "m.sqlite3",
            settings=settings,
            embedder=shared.cheap_embedder,
            embed_model="random-384",
        ) as store:
            t0 = time.perf_counter()
            for start in range(0, size, 2000):
                await store.store_many(data[start : start + 2000], namespace=NS, compress=False)
            fill_s = time.perf_counter() - t0
            report: dict[str, Any] = {
                "size": size,
                "store_per_s": round(size / fill_s, 1),
                "list": {},
                "search": {},
            }

            async def listing(**kw: Any) -> Any:
                return await store.list(NS, limit=50, **kw)

            q = iter(questions * 10)

            async def searching(**kw: Any) -> Any:
                return await store.search(next(q), namespace=NS, k=10, **kw)

            report["load_avg_1min"] = [os.getloadavg()[0]]
            for name, args in cases().items():
                report["list"][name] = await timed(listing, args, rounds=3)
                print(name, "list", report["list"][name], flush=True)
            report["load_avg_1min"].append(os.getloadavg()[0])
            await searching(all_scopes=True)  # load the namespace's vectors once
            for name, args in cases().items():
                # A case of one keyword set is repeated (other questions): p50 over 10 calls.
                rounds = 10 if len(args) == 1 else rounds_search
                report["search"][name] = await timed(searching, args, rounds=rounds)
                print(name, "search", report["search"][name], flush=True)
            report["load_avg_1min"].append(os.getloadavg()[0])
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3, help="search rounds over each case")
    args = parser.parse_args()
    report = asyncio.run(run(args.size, args.rounds))
    report["machine"] = {"python": platform.python_version(), "platform": platform.platform()}
    report["commit"] = shared.git_commit()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
