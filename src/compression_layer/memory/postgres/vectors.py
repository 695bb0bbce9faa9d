"""The dense side on Postgres: vectors by text hash, and nearest memories with pgvector.

Below ``HNSW_MIN_ROWS`` memories in a namespace, a search is exact: ``<=>`` (cosine distance)
over the namespace's rows, found through the ``(namespace, pk)`` index. From there on it uses an
HNSW index (one per vector dimension, an expression index on ``embedding::vector(dim)``, built
once a dimension has that many rows) with pgvector's iterative scan, so namespace and tag filters
still fill ``n`` results. bench/memory_postgres.py measures HNSW's recall@10 against exact.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Mapping

import numpy as np

from compression_layer.memory.filters import MemoryFilter
from compression_layer.memory.postgres.db import Conn, PgDatabase, fetchall, fetchone
from compression_layer.memory.postgres.filters import pg_where
from compression_layer.memory.postgres.rows import Vector, as_vector, vector_text
from compression_layer.memory.vectors import Embedder, Vectors

HNSW_MIN_ROWS = 10_000
"""Namespaces with fewer memories are searched exactly; an HNSW index is built past this size."""
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 64
EF_SEARCH_MIN = 100
SIZE_TTL_S = 30.0
"""How long a namespace's row count is trusted before it is counted again."""
_BUILD_LOCK = 0x636C686E73  # advisory lock: one HNSW build at a time across processes


def index_name(dim: int) -> str:
    return f"memories_hnsw_{int(dim)}"


class PgVectors:
    """The embedder of one store (``memory.vectors.Vectors`` checks and normalises its output)
    and what it knows of the database's vector indexes."""

    def __init__(self, embedder: Embedder, model: str) -> None:
        self.model = model
        self.vectors = Vectors(embedder, model)
        self._sizes: dict[str, tuple[int, float]] = {}
        self._lengths: dict[str, float] = {}
        self._hnsw: dict[int, bool] = {}
        self._building: asyncio.Task[None] | None = None

    def embed(self, texts: list[str]) -> np.ndarray:
        return self.vectors.embed(texts)

    async def lookup(self, db: PgDatabase, texts: Mapping[str, str]) -> dict[str, Vector]:
        """Vectors by text hash: those already stored are read, only the rest are embedded."""
        hashes = list(texts)
        found: dict[str, Vector] = {}
        if hashes:
            rows = await db.fetchall(
                "SELECT DISTINCT ON (embed_hash) embed_hash, embedding::real[] AS v "
                "FROM memories WHERE embed_model = %s AND embed_hash = ANY(%s)",
                (self.model, hashes),
            )
            found = {r["embed_hash"]: as_vector(r["v"]) for r in rows}
        missing = [h for h in hashes if h not in found]
        if missing:
            vecs = await asyncio.to_thread(self.embed, [texts[h] for h in missing])
            found.update(zip(missing, vecs, strict=True))
        return found

    async def namespace_size(self, conn: Conn, namespace: str) -> int:
        """Memories in ``namespace`` (live or not), counted at most every ``SIZE_TTL_S``."""
        return (await self.namespace_stats(conn, namespace))[0]

    async def namespace_stats(self, conn: Conn, namespace: str) -> tuple[int, float]:
        """(memories, mean length in lexemes) of ``namespace``, at most ``SIZE_TTL_S`` old."""
        cached = self._sizes.get(namespace)
        if cached is not None and time.monotonic() - cached[1] < SIZE_TTL_S:
            return cached[0], self._lengths.get(namespace, 1.0)
        row = await fetchone(
            conn,
            "SELECT count(*) AS n, avg(doc_len) AS len FROM memories WHERE namespace = %s",
            (namespace,),
        )
        n = int(row["n"]) if row else 0
        self._sizes[namespace] = (n, time.monotonic())
        self._lengths[namespace] = float(row["len"] or 1.0) if row else 1.0
        return n, self._lengths[namespace]

    def grew(self, namespace: str, by: int) -> None:
        cached = self._sizes.get(namespace)
        if cached is not None:
            self._sizes[namespace] = (cached[0] + by, cached[1])

    async def has_hnsw(self, conn: Conn, dim: int) -> bool:
        if self._hnsw.get(dim):
            return True
        row = await fetchone(
            conn,
            "SELECT i.indisvalid AS ok FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE c.relname = %s",
            (index_name(dim),),
        )
        ok = bool(row and row["ok"])
        self._hnsw[dim] = ok
        return ok

    async def nearest(
        self,
        conn: Conn,
        namespace: str,
        query: Vector,
        n: int,
        tags: list[str] | None = None,
        exact: bool | None = None,
        flt: MemoryFilter | None = None,
        ef_search: int | None = None,
    ) -> list[tuple[int, float]]:
        """The ``n`` memories of ``namespace`` (carrying all ``tags``) nearest to a unit-norm
        ``query``, as (pk, cosine) best first. ``exact``: force (True) or forbid (False) the
        exact scan; None decides by the namespace's size and whether the HNSW index exists."""
        dim = int(query.shape[0])
        if exact is None:
            big = await self.namespace_size(conn, namespace) >= HNSW_MIN_ROWS
            exact = not (big and await self.has_hnsw(conn, dim))
        col = "embedding" if exact else f"embedding::vector({dim})"
        qv = "%s::vector" if exact else f"%s::vector({dim})"
        visible, vis_params = pg_where(flt, "m", namespace)
        where = f"m.namespace = %s AND m.embed_model = %s AND m.embed_dim = %s AND {visible}"
        params: list[object] = [vector_text(query), namespace, self.model, dim, *vis_params]
        if tags:
            where += " AND m.tags @> %s::jsonb"
            params.append(json.dumps(tags, ensure_ascii=False))
        sql = (
            f"SELECT m.pk, m.{col} <=> {qv} AS d FROM memories m WHERE {where} ORDER BY d LIMIT %s"
        )
        params.append(n)
        if exact:
            rows = await fetchall(conn, sql, params, binary=True)
        else:
            async with conn.transaction():
                ef = ef_search or max(EF_SEARCH_MIN, 2 * n)
                await conn.execute(_hnsw_settings(ef))
                rows = await fetchall(conn, sql, params, binary=True)
        pairs = sorted(((int(r["pk"]), float(r["d"])) for r in rows), key=lambda t: (t[1], t[0]))
        return [(pk, 1.0 - d) for pk, d in pairs]

    async def nearest_many(
        self,
        conn: Conn,
        namespace: str,
        queries: list[Vector],
        n: int,
        flt: MemoryFilter | None = None,
    ) -> list[list[tuple[int, float]]]:
        """``nearest`` for several queries in one statement (a LATERAL probe each): the
        near-duplicate check of a batch costs one round trip, not one per item."""
        if not queries:
            return []
        dim = int(queries[0].shape[0])
        big = await self.namespace_size(conn, namespace) >= HNSW_MIN_ROWS
        exact = not (big and await self.has_hnsw(conn, dim))
        col = "m.embedding" if exact else f"m.embedding::vector({dim})"
        qv = "q.v" if exact else f"q.v::vector({dim})"
        visible, vis_params = pg_where(flt, "m", namespace)
        where = f"m.namespace = %s AND m.embed_model = %s AND m.embed_dim = %s AND {visible}"
        # The query vectors are parsed once, in a materialised CTE: cast inside the lateral
        # scan, the text was parsed again for every row compared (an exact probe of 3k rows
        # took 170 ms instead of 3).
        sql = (
            "WITH q AS MATERIALIZED (SELECT u.v::vector AS v, u.i FROM unnest(%s::text[]) "
            "WITH ORDINALITY AS u(v, i)) "
            f"SELECT q.i, c.pk, c.d FROM q CROSS JOIN LATERAL (SELECT m.pk, {col} <=> {qv} AS d "
            f"FROM memories m WHERE {where} ORDER BY d LIMIT %s) c"
        )
        params = [[vector_text(v) for v in queries], namespace, self.model, dim, *vis_params, n]
        async with conn.transaction():
            if not exact:
                await conn.execute(_hnsw_settings(max(EF_SEARCH_MIN, 2 * n)))
            rows = await fetchall(conn, sql, params, binary=True)
        out: list[list[tuple[int, float]]] = [[] for _ in queries]
        for r in rows:
            out[int(r["i"]) - 1].append((int(r["pk"]), 1.0 - float(r["d"])))
        return [sorted(found, key=lambda t: (-t[1], t[0])) for found in out]

    def maybe_build(self, db: PgDatabase, dim: int, rows: int) -> None:
        """Start building the HNSW index of ``dim`` in the background once ``rows`` reach the
        threshold (at most one build at a time in this process)."""
        if rows < HNSW_MIN_ROWS or self._hnsw.get(dim):
            return
        if self._building is not None and not self._building.done():
            return
        self._building = asyncio.create_task(self.build_hnsw(db, dim))

    async def build_hnsw(self, db: PgDatabase, dim: int) -> None:
        """Build the HNSW index of ``dim`` (CONCURRENTLY: writes go on meanwhile); a no-op when it
        exists or another process is building it."""
        async with db.connection() as conn:
            row = await fetchone(conn, "SELECT pg_try_advisory_lock(%s) AS ok", (_BUILD_LOCK,))
            if not row or not row["ok"]:
                return
            try:
                if await self.has_hnsw(conn, dim):
                    return
                name = index_name(dim)
                # A build cut short leaves an invalid index behind: drop it and start again.
                await conn.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
                await conn.execute(
                    f"CREATE INDEX CONCURRENTLY {name} ON memories USING hnsw "
                    f"((embedding::vector({int(dim)})) vector_cosine_ops) "
                    f"WITH (m = {HNSW_M}, ef_construction = {HNSW_EF_CONSTRUCTION}) "
                    f"WHERE embed_dim = {int(dim)}"
                )
                self._hnsw[dim] = True
            finally:
                await conn.execute("SELECT pg_advisory_unlock(%s)", (_BUILD_LOCK,))

    async def close(self) -> None:
        task, self._building = self._building, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task


def _hnsw_settings(ef_search: int) -> str:
    """The HNSW scan settings of one transaction, as one round trip (two statements)."""
    return (
        f"SET LOCAL hnsw.ef_search = {int(ef_search)}; "
        "SET LOCAL hnsw.iterative_scan = relaxed_order"
    )
