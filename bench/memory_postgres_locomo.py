"""LoCoMo retrieval recall on the Postgres backend, measured as ``bench/memory_locomo.py`` measures
SQLite: every dialogue turn stored in its conversation's namespace (compressed by the real
compressor, the original embedded by MiniLM: the ``compressed_embed_original`` configuration),
every question of categories 1-4 asked in its namespace, a hit at k when an evidence turn is in
the top k. Reported for dense, BM25 and hybrid, on the dev conversations (conv-26, conv-30, used
for tuning on SQLite) and the held-out three; plus nonsense queries with any hit. Starts its own
throwaway server (tests/support/pg_local.py).

    nice -n 10 .venv/bin/python bench/memory_postgres_locomo.py

Writes bench/results/memory_postgres_locomo.json.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "support"))
sys.path.insert(0, str(ROOT / "bench"))

from compression_layer.memory import MemoryStore  # noqa: E402
from compression_layer.settings import MemorySettings  # noqa: E402
from memory_locomo import (  # noqa: E402
    DATA,
    MODES,
    CachedCompressor,
    CachedMiniLM,
    ask,
    load,
    nonsense,
    split_recall,
)
from pg_local import LocalPostgres  # noqa: E402

OUT = ROOT / "bench" / "results" / "memory_postgres_locomo.json"


async def run() -> dict[str, Any]:
    turns, questions = load()
    embedder, compressor = CachedMiniLM(), CachedCompressor(True)
    embedder([q["q"] for q in questions])
    out: dict[str, Any] = {
        "data": str(DATA.relative_to(ROOT.parent)),
        "questions": len(questions),
        "memories": sum(len(v) for v in turns.values()),
        "config": "compressed_embed_original (compressed stored and injected, original embedded)",
    }
    settings = MemorySettings(near_duplicate_policy="keep", embed_source="original")
    with LocalPostgres() as pg:
        url = pg.create_database("locomo")
        async with MemoryStore.open(
            url, settings=settings, compressor=compressor, embedder=embedder
        ) as store:
            start = time.perf_counter()
            for cid, items in turns.items():
                for i in range(0, len(items), 256):
                    await store.store_many(items[i : i + 256], namespace=cid, compress=True)
            out["store_wall_s"] = round(time.perf_counter() - start, 2)
            out["compress_s"] = round(compressor.seconds, 2)
            for mode in MODES:
                out[mode] = split_recall(questions, await ask(store, questions, mode))
            out["hybrid_min_score_0"] = split_recall(
                questions, await ask(store, questions, "hybrid", min_score=0.0)
            )
            out["nonsense_any_hit"] = await nonsense(store, list(turns))
    return out


def main() -> None:
    if not DATA.is_file():
        sys.exit(f"skip: LoCoMo data not found at {DATA}")
    result = asyncio.run(run())
    result["machine"] = (
        f"{platform.machine()} {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f} at the end"
    )
    result["command"] = "nice -n 10 .venv/bin/python bench/memory_postgres_locomo.py"
    print(json.dumps(result, indent=2))
    OUT.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
