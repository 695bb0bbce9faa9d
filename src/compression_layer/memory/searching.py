"""The search path of the memory store: dense + BM25 candidate lists, fusion, hits, packing."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from compression_layer.memory.errors import MemoryInputError
from compression_layer.memory.rows import COLUMNS
from compression_layer.memory.search import fts_query, pack, rrf
from compression_layer.memory.types import SearchHit
from compression_layer.memory.validate import check_k, check_namespace, check_query, check_tags

if TYPE_CHECKING:
    from compression_layer.memory.store import MemoryStore, SearchMode

_MODES = ("hybrid", "dense", "bm25")


async def run_search(
    store: MemoryStore,
    query: str,
    namespace: str,
    k: int,
    tags: Sequence[str] | None,
    max_tokens: int | None,
    mode: SearchMode,
) -> list[SearchHit]:
    """See ``MemoryStore.search``."""
    store._check_open()
    check_query(query)
    check_namespace(namespace)
    check_k(k)
    wanted = check_tags(tags) if tags else []
    if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens <= 0):
        raise MemoryInputError(f"max_tokens must be a positive integer, got {max_tokens!r}")
    if mode not in _MODES:
        raise MemoryInputError(f"mode must be one of {', '.join(_MODES)}, got {mode!r}")
    depth = max(store.settings.candidates, k)
    qvec: npt.NDArray[np.float32] | None = None
    if mode != "bm25":
        qvec = (await asyncio.to_thread(store._embed_now, [query]))[0]
    async with store._lock:
        await store._sync_cache()
        allowed = await _tagged(store, namespace, wanted) if wanted else None
        if allowed is not None and not allowed:
            return []
        index = await store._index(namespace) if qvec is not None else None
        # Dense (numpy, GIL released) and BM25 (SQLite's thread) overlap on separate cores.
        dense_job = (
            asyncio.to_thread(index.top, qvec, depth, allowed)
            if index is not None and qvec is not None
            else _nothing()
        )
        bm25_job = _bm25(store, query, namespace, depth, allowed) if mode != "dense" else _nothing()
        dense, lexical = await asyncio.gather(dense_job, bm25_job)
        if mode == "dense":
            fused = dense
        elif mode == "bm25":
            fused = [(pk, -score) for pk, score in lexical]
        else:
            fused = rrf(
                [[pk for pk, _ in dense], [pk for pk, _ in lexical]],
                [store.settings.dense_weight, store.settings.bm25_weight],
                store.settings.rrf_k,
            )
        # Without a budget only the top k are needed; with one, later hits may fill the gaps.
        fused = fused if max_tokens is not None else fused[:k]
        rows = await _rows(store, [pk for pk, _ in fused])
    dense_rank = {pk: i for i, (pk, _) in enumerate(dense, start=1)}
    bm25_rank = {pk: i for i, (pk, _) in enumerate(lexical, start=1)}
    hits = [
        _hit(rows[pk], score, dense_rank.get(pk), bm25_rank.get(pk))
        for pk, score in fused
        if pk in rows
    ]
    if max_tokens is None:
        return hits[:k]
    return [hits[i] for i in pack([h.tokens_compressed for h in hits], max_tokens, k)]


async def _nothing() -> list[tuple[int, float]]:
    return []


async def _tagged(store: MemoryStore, namespace: str, tags: list[str]) -> set[int]:
    """pks of the namespace's memories carrying every tag in ``tags``."""
    async with store._conn.execute(
        "SELECT t.memory_pk FROM memory_tags t JOIN memories m ON m.pk = t.memory_pk "
        "WHERE m.namespace = ? AND t.tag IN (SELECT value FROM json_each(?)) "
        "GROUP BY t.memory_pk HAVING COUNT(DISTINCT t.tag) = ?",
        (namespace, json.dumps(tags), len(tags)),
    ) as cur:
        return {int(r[0]) for r in await cur.fetchall()}


async def _bm25(
    store: MemoryStore, query: str, namespace: str, depth: int, allowed: set[int] | None
) -> list[tuple[int, float]]:
    """(pk, bm25) best first; SQLite's bm25() is lower-is-better, the tags column half-weighted."""
    match = fts_query(query)
    if match is None:
        return []
    # The namespace is matched inside FTS5 (see migration 2), so no row of ``memories`` is read
    # until the top ``depth`` are known.
    ns_token = "n" + namespace.encode("utf-8").hex()
    sql = (
        "SELECT rowid, bm25(memories_fts, 1.0, 0.5, 0.0) AS score FROM memories_fts "
        "WHERE memories_fts MATCH ?"
    )
    params: list[Any] = [f'ns_token : "{ns_token}" AND ({match})']
    if allowed is not None:
        sql += " AND rowid IN (SELECT value FROM json_each(?))"
        params.append(json.dumps(sorted(allowed)))
    sql += " ORDER BY score LIMIT ?"
    params.append(depth)
    async with store._conn.execute(sql, params) as cur:
        return [(int(pk), float(score)) for pk, score in await cur.fetchall()]


async def _rows(store: MemoryStore, pks: list[int]) -> dict[int, Any]:
    if not pks:
        return {}
    async with store._conn.execute(
        f"SELECT {COLUMNS} FROM memories WHERE pk IN (SELECT value FROM json_each(?))",
        (json.dumps(pks),),
    ) as cur:
        return {int(r[0]): r for r in await cur.fetchall()}


def _hit(row: Any, score: float, dense_rank: int | None, bm25_rank: int | None) -> SearchHit:
    return SearchHit(
        id=row[1],
        namespace=row[2],
        score=score,
        compressed=row[4],
        content=row[3],
        metadata=json.loads(row[14]),
        tags=json.loads(row[13]),
        tokens_original=row[8],
        tokens_compressed=row[9],
        dense_rank=dense_rank,
        bm25_rank=bm25_rank,
    )
