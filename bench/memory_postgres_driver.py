"""psycopg 3 (async, pooled; text and binary results) vs asyncpg on the two queries a Postgres
memory search runs most: a small result (pk, distance) and 60 full rows with their vectors. Same
server, same 5,000 memories, median of 60 runs each. asyncpg is not a dependency:
``pip install asyncpg`` first. Prints JSON (the numbers are kept in
bench/results/memory_postgres.json under ``driver_comparison``).

    .venv/bin/python bench/memory_postgres_driver.py
"""

from __future__ import annotations

import asyncio
import json
import re
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests" / "support"))

import memory_postgres as mp  # noqa: E402
from compression_layer.memory import MemoryStore  # noqa: E402
from compression_layer.memory.postgres.rows import COLUMNS, vector_text  # noqa: E402
from compression_layer.memory.postgres.store import PostgresMemoryStore  # noqa: E402
from compression_layer.settings import MemorySettings  # noqa: E402
from pg_local import LocalPostgres  # noqa: E402

SMALL = (
    "SELECT pk, embedding <=> %s::vector AS d FROM memories WHERE namespace = %s "
    "ORDER BY d LIMIT 50"
)
ROWS = f"SELECT {COLUMNS}, embedding::real[] AS v FROM memories WHERE pk = ANY(%s)"


def dollar(sql: str) -> str:
    """psycopg's %s placeholders as asyncpg's $1, $2, ..."""
    counter = iter(range(1, 100))
    return re.sub(r"%s", lambda _: f"${next(counter)}", sql)


async def median_ms(call: Callable[[], Awaitable[Any]]) -> float:
    for _ in range(5):
        await call()
    times = []
    for _ in range(60):
        t = time.perf_counter()
        await call()
        times.append((time.perf_counter() - t) * 1000)
    return round(statistics.median(times), 3)


async def main() -> None:
    import asyncpg

    embed = mp.BagOfWords()
    out: dict[str, float] = {}
    with LocalPostgres() as pg:
        url = pg.create_database("drivers")
        async with MemoryStore.open(
            url, settings=MemorySettings(), compressor=mp.Shorter(), embedder=embed
        ) as opened:
            store = opened
            assert isinstance(store, PostgresMemoryStore)
            await mp.bulk_load(store, 5000, embed)
            query = vector_text(embed([mp.QUESTIONS[1]])[0])
            cases = {
                "knn_50_exact_5k": (SMALL, (query, "bench")),
                "rows_60": (ROWS, (list(range(1, 61)),)),
            }
            apool = await asyncpg.create_pool(url, min_size=1, max_size=4)
            try:
                for name, (sql, params) in cases.items():

                    async def psy(binary: bool, sql: str = sql, params: Any = params) -> Any:
                        async with store.pg.connection() as conn, conn.cursor(binary=binary) as cur:
                            await cur.execute(sql, params)
                            return await cur.fetchall()

                    async def apg(sql: str = sql, params: Any = params) -> Any:
                        async with apool.acquire() as conn:
                            return await conn.fetch(dollar(sql), *params)

                    out[f"{name}/psycopg_text_ms_p50"] = await median_ms(lambda: psy(False))
                    out[f"{name}/psycopg_binary_ms_p50"] = await median_ms(lambda: psy(True))
                    out[f"{name}/asyncpg_ms_p50"] = await median_ms(apg)
            finally:
                await apool.close()
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    asyncio.run(main())
