"""Tag-filtered memory search at scale, and ``get`` latency while filtered searches run.

One namespace of N filler memories (words drawn from LoCoMo's turns, as in
``bench/memory_locomo.py``'s scale test). Memory i carries the tag ``topic<i % 10>`` (10% of the
memories each), when i is odd ``half`` (50%) and when i % 100 == 7 ``rare`` (1%). Queries are
LoCoMo questions. Measured through the real ``MemoryStore`` (hybrid: exact numpy dense + FTS5
BM25 + fusion + row fetch), per size:

- search p50/p95 (wall and CPU of this process) without a filter, with ``tags=["rare"]`` (1%),
  ``["topic3"]`` (10%), ``["half"]`` (50%) and ``["rare", "topic7"]`` (two tags, 1%); the
  filtered hits are checked to carry the tags;
- ``get`` latency alone, and while another task runs ``rare``-filtered searches back to back.

Vectors are random unit vectors seeded by the text (the cost of vectors without a model, 384-d);
``--minilm N`` also runs the packaged MiniLM at N memories (query embedding included in the
search time). Results go to ``bench/results/memory_tags.json`` under ``--label`` (other labels in
the file are kept, so a run of the code before a change and one after sit side by side; a rerun
of some sizes replaces those under its label)::

    nice -n 10 .venv/bin/python bench/memory_tags.py --label after [--sizes 10000 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import platform
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from compression_layer.memory import MemoryStore
from compression_layer.settings import MemorySettings

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "locomo" / "locomo_part_a.json"
OUT = ROOT / "bench" / "results" / "memory_tags.json"
NS = "bench"
Vec = npt.NDArray[np.float32]


def cheap_embedder(texts: list[str]) -> Vec:
    """Random unit vectors seeded by the text: the cost of vectors without a model."""
    out = np.empty((len(texts), 384), dtype=np.float32)
    for i, t in enumerate(texts):
        seed = int.from_bytes(hashlib.blake2b(t.encode("utf-8"), digest_size=8).digest(), "little")
        out[i] = np.random.default_rng(seed).standard_normal(384)
    return out


def words_and_questions() -> tuple[list[str], list[str]]:
    """LoCoMo's words and its questions (a fixed synthetic vocabulary when the data is absent)."""
    if not DATA.is_file():
        rng = random.Random(0)
        vocab = ["".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=6)) for _ in range(5000)]
        return vocab, [" ".join(rng.choices(vocab, k=6)) + "?" for _ in range(200)]
    convs = json.loads(DATA.read_text(encoding="utf-8"))
    vocab: set[str] = set()
    questions: list[str] = []
    for conv in convs:
        for key, session in conv["conversation"].items():
            if key.startswith("session_") and isinstance(session, list):
                vocab.update(w for turn in session for w in turn["text"].split())
        questions += [qa["question"] for qa in conv["qa"] if qa["category"] in (1, 2, 3, 4)]
    return sorted(vocab), questions


def items_for(n: int, vocab: list[str]) -> list[dict[str, Any]]:
    rng = random.Random(n)
    out = []
    for i in range(n):
        tags = [f"topic{i % 10}"] + (["half"] if i % 2 else []) + (["rare"] if i % 100 == 7 else [])
        text = f"note {i}: " + " ".join(rng.choices(vocab, k=rng.randint(10, 30)))
        out.append({"content": text, "tags": tags, "metadata": {"i": i}})
    return out


def summary(seconds: list[float]) -> dict[str, float]:
    ms = sorted(s * 1000 for s in seconds)
    return {
        "n": len(ms),
        "p50_ms": round(statistics.median(ms), 2),
        "p95_ms": round(float(np.percentile(ms, 95)), 2),
        "max_ms": round(ms[-1], 2),
    }


async def timed_searches(
    store: MemoryStore, queries: list[str], tags: list[str] | None, budget_s: float
) -> dict[str, Any]:
    """Search each query (stopping once ``budget_s`` is spent, after at least 3)."""
    wall, cpu = [], []
    started = time.perf_counter()
    for q in queries:
        t0, c0 = time.perf_counter(), time.process_time()
        hits = await store.search(q, namespace=NS, k=10, tags=tags)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        if tags:
            assert all(set(tags) <= set(h.tags) for h in hits), "a hit without the filter's tag"
        spent = time.perf_counter() - started
        if (len(wall) >= 3 and spent > budget_s) or spent > 2 * budget_s:
            break
    out: dict[str, Any] = summary(wall)
    out["cpu_p50_ms"] = round(statistics.median(cpu) * 1000, 2)
    return out


async def get_latency(store: MemoryStore, ids: list[str], n: int, budget_s: float) -> Any:
    """``get`` alone, then while ``rare``-filtered searches run back to back in another task."""
    rng = random.Random(1)
    alone = []
    for mid in rng.sample(ids, n):
        t0 = time.perf_counter()
        await store.get(mid)
        alone.append(time.perf_counter() - t0)
    stop = asyncio.Event()
    searches = 0
    _, questions = words_and_questions()

    async def search_loop() -> None:
        nonlocal searches
        while not stop.is_set():
            await store.search(questions[searches % len(questions)], namespace=NS, tags=["rare"])
            searches += 1

    task = asyncio.create_task(search_loop())
    during = []
    started = time.perf_counter()
    try:
        while searches == 0 and not task.done():  # let the first search start
            await asyncio.sleep(0.001)
        for mid in rng.sample(ids, n):
            t0 = time.perf_counter()
            await store.get(mid)
            during.append(time.perf_counter() - t0)
            await asyncio.sleep(0.002)  # gets arrive spread out, not in one burst
            if len(during) >= 5 and time.perf_counter() - started > budget_s:
                break
    finally:
        stop.set()
        await task
    return {
        "alone": summary(alone),
        "during_filtered_searches": summary(during),
        "searches_meanwhile": searches,
    }


async def run_size(
    tmp: Path, n: int, queries: list[str], vocab: list[str], args: argparse.Namespace, minilm: bool
) -> dict[str, Any]:
    items = items_for(n, vocab)
    settings = MemorySettings(near_duplicate_policy="keep")
    kwargs: dict[str, Any] = {} if minilm else {"embedder": cheap_embedder, "embed_model": "cheap"}
    out: dict[str, Any] = {
        "memories": n,
        "embedder": "minilm" if minilm else "cheap-random-384",
        "load_avg_1m_at_start": round(os.getloadavg()[0], 2),
    }
    async with MemoryStore.open(tmp / f"tags-{n}-{minilm}.db", settings=settings, **kwargs) as st:
        t0 = time.perf_counter()
        ids: list[str] = []
        for i in range(0, n, 2000):
            stored = await st.store_many(items[i : i + 2000], namespace=NS, compress=False)
            ids += [m.id for m in stored]
        out["store_per_s"] = round(n / (time.perf_counter() - t0), 1)
        t0 = time.perf_counter()
        await st.search(queries[0], namespace=NS)  # loads the namespace matrix once
        out["first_search_ms"] = round((time.perf_counter() - t0) * 1000, 1)
        t0 = time.perf_counter()
        await st.search(queries[1], namespace=NS, tags=["rare"])
        out["first_filtered_search_ms"] = round((time.perf_counter() - t0) * 1000, 1)
        budget = args.budget_s
        out["search_hybrid_no_filter"] = await timed_searches(st, queries, None, budget)
        out["search_hybrid_tag_1pct"] = await timed_searches(st, queries, ["rare"], budget)
        out["search_hybrid_tag_10pct"] = await timed_searches(st, queries, ["topic3"], budget)
        out["search_hybrid_tag_50pct"] = await timed_searches(st, queries, ["half"], budget)
        out["search_hybrid_two_tags_1pct"] = await timed_searches(
            st, queries, ["rare", "topic7"], budget
        )
        out["get"] = await get_latency(st, ids, args.gets, budget)
    out["load_avg_1m_at_end"] = round(os.getloadavg()[0], 2)
    return out


def git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000])
    parser.add_argument("--minilm", type=int, default=10_000, help="MiniLM run size; 0: none")
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--gets", type=int, default=200)
    parser.add_argument("--budget-s", type=float, default=60.0, help="per measured series")
    parser.add_argument("--label", default="after")
    args = parser.parse_args()
    vocab, questions = words_and_questions()
    queries = random.Random(7).sample(questions, min(args.queries, len(questions)))
    report: dict[str, Any] = {
        "commit": git_commit(),
        "machine": {
            "cpus": os.cpu_count(),
            "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
            "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version,
        },
        "args": vars(args),
        "sizes": [],
    }
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        for n in args.sizes:
            report["sizes"].append(await run_size(tmp, n, queries, vocab, args, minilm=False))
            print(json.dumps(report["sizes"][-1]), file=sys.stderr, flush=True)
        if args.minilm:
            report["sizes"].append(await run_size(tmp, args.minilm, queries, vocab, args, True))
    report["machine"]["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results = json.loads(OUT.read_text(encoding="utf-8")) if OUT.is_file() else {}
    # A rerun of some sizes under a label replaces those and keeps the label's others.
    ran = {(s["memories"], s["embedder"]) for s in report["sizes"]}
    kept = [
        s
        for s in results.get(args.label, {}).get("sizes", [])
        if (s["memories"], s["embedder"]) not in ran
    ]
    report["sizes"] = kept + report["sizes"]
    results[args.label] = report
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
