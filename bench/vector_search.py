"""Exact dense top-10: numpy (what the memory store uses) against sqlite-vec's ``vec0`` table.

Random unit vectors of dimension 384 at 1k, 10k and 100k rows, 50 random unit queries each;
p50/p95 ms per query, insert time, and whether sqlite-vec returns numpy's exact top 10. sqlite-vec
is not a dependency (the store does not use it); install it to rerun::

    .venv/bin/pip install sqlite-vec pysqlite3-binary   # stdlib sqlite3 here cannot load extensions
    nice -n 5 .venv/bin/python bench/vector_search.py

Writes ``bench/results/vector_search_numpy_vs_sqlite_vec.json``.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

RESULT = Path(__file__).resolve().parent / "results" / "vector_search_numpy_vs_sqlite_vec.json"
DIM, K, QUERIES = 384, 10, 50
SIZES = [1_000, 10_000, 100_000]


def unit(rng: np.random.Generator, n: int) -> npt.NDArray[np.float32]:
    a = rng.standard_normal((n, DIM)).astype(np.float32)
    return np.ascontiguousarray(a / np.linalg.norm(a, axis=1, keepdims=True))


def numpy_top(matrix: npt.NDArray[np.float32], q: npt.NDArray[np.float32]) -> list[int]:
    scores = matrix @ q
    part = np.argpartition(-scores, K - 1)[:K]
    return [int(i) for i in part[np.argsort(-scores[part])]]


def timed(fn: Any, queries: npt.NDArray[np.float32]) -> tuple[dict[str, float], list[list[int]]]:
    for q in queries[:3]:  # warm-up
        fn(q)
    ms, tops = [], []
    for q in queries:
        t0 = time.perf_counter()
        tops.append(fn(q))
        ms.append((time.perf_counter() - t0) * 1000)
    ms.sort()
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    return {"p50_ms": round(statistics.median(ms), 3), "p95_ms": round(p95, 3)}, tops


def connect(path: str) -> Any:
    try:
        import pysqlite3.dbapi2 as sqlite3  # type: ignore[import-not-found]
    except ImportError:
        import sqlite3
    import sqlite_vec  # type: ignore[import-not-found]

    conn = sqlite3.connect(path)
    conn.enable_load_extension(True)
    sqlite_vec.load(conn)
    return conn


def sqlite_vec_rows(
    matrix: npt.NDArray[np.float32], queries: npt.NDArray[np.float32], exact: list[list[int]]
) -> dict[str, Any]:
    conn = connect(":memory:")
    conn.execute(f"CREATE VIRTUAL TABLE v USING vec0(embedding float[{DIM}])")
    t0 = time.perf_counter()
    conn.executemany(
        "INSERT INTO v(rowid, embedding) VALUES (?, ?)",
        ((i + 1, row.tobytes()) for i, row in enumerate(matrix)),
    )
    conn.commit()
    insert_s = time.perf_counter() - t0
    sql = "SELECT rowid FROM v WHERE embedding MATCH ? AND k = ? ORDER BY distance"

    def top(q: npt.NDArray[np.float32]) -> list[int]:
        return [r[0] - 1 for r in conn.execute(sql, (q.tobytes(), K))]

    stats, tops = timed(top, queries)
    same = sum(t == e for t, e in zip(tops, exact, strict=True))
    recall = statistics.fmean(len(set(t) & set(e)) / K for t, e in zip(tops, exact, strict=True))
    return {**stats, "insert_s": round(insert_s, 3), "recall@10": recall, "identical": same}


def main() -> int:
    rng = np.random.default_rng(12345)
    rows: list[dict[str, Any]] = []
    for n in SIZES:
        matrix, queries = unit(rng, n), unit(rng, QUERIES)
        stats, exact = timed(lambda q, m=matrix: numpy_top(m, q), queries)
        rows.append({"N": n, "method": "numpy exact float32", **stats})
        try:
            rows.append({"N": n, "method": "sqlite-vec vec0 float32 (memory)",
                         **sqlite_vec_rows(matrix, queries, exact)})  # fmt: skip
        except ImportError:
            print("sqlite-vec not installed: numpy only (see the docstring)", file=sys.stderr)
        print(rows[-2:], file=sys.stderr)
    report = {"dim": DIM, "k": K, "queries": QUERIES, "loadavg": os.getloadavg(), "results": rows}
    RESULT.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
