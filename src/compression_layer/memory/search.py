"""The search path of the memory store: dense + BM25 candidate lists, fusion, hits, packing."""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np
import numpy.typing as npt

from compression_layer.memory.db import Database, Queries, Row
from compression_layer.memory.errors import MemoryInputError
from compression_layer.memory.filters import MemoryFilter
from compression_layer.memory.gate import Gate, search_gate
from compression_layer.memory.ranking import (
    COVERAGE_OF,
    calibrated,
    coverage,
    decayed,
    final_hits,
    fts_query,
    fuse,
    shortlist,
    wants_coverage,
    when,
)
from compression_layer.memory.rows import COLUMNS, decoded, tagged
from compression_layer.memory.sql import RowLike
from compression_layer.memory.types import SearchHit
from compression_layer.memory.validate import check_k, check_namespace, check_query, check_tags
from compression_layer.memory.vectors import VectorIndex, Vectors
from compression_layer.settings import MemorySettings

SearchMode = Literal["hybrid", "dense", "bm25"]
MODES: tuple[str, ...] = get_args(SearchMode)


@dataclass(frozen=True)
class SearchRequest:
    """A checked ``MemoryStore.search`` call, as either backend's ``run_search`` takes it."""

    query: str
    namespace: str
    k: int
    tags: list[str]
    max_tokens: int | None
    mode: SearchMode
    min_score: float | None
    flt: MemoryFilter


def search_request(
    query: str,
    namespace: str,
    k: int,
    tags: Sequence[str] | None,
    max_tokens: int | None,
    mode: SearchMode,
    min_score: float | None,
    flt: MemoryFilter,
) -> SearchRequest:
    """Check the arguments of a search; MemoryInputError names the first that is wrong."""
    check_query(query)
    check_namespace(namespace)
    check_k(k)
    wanted = check_tags(tags) if tags else []
    if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens <= 0):
        raise MemoryInputError(f"max_tokens must be a positive integer, got {max_tokens!r}")
    if mode not in MODES:
        raise MemoryInputError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    check_min_score(min_score)
    return SearchRequest(query, namespace, k, wanted, max_tokens, mode, min_score, flt)


async def run_search(
    db: Database, vectors: Vectors, settings: MemorySettings, req: SearchRequest
) -> list[SearchHit]:
    """See ``MemoryStore.search``."""
    query, namespace, k, wanted = req.query, req.namespace, req.k, req.tags
    max_tokens, mode, min_score, flt = req.max_tokens, req.mode, req.min_score, req.flt
    depth = max(settings.candidates, k)
    qvec: npt.NDArray[np.float32] | None = None
    if mode != "bm25":
        qvec = (await asyncio.to_thread(vectors.embed, [query]))[0]
    index = None
    if qvec is not None:
        # The cached matrix follows the writing connection's commits: a short hold of the lock
        # (long only when the namespace's vectors are loaded, once per process).
        async with db.lock:
            await vectors.sync(db)
            index = await vectors.index(db, namespace)
    async with db.reading() as reader:
        allowed = await tagged(reader, namespace, wanted) if wanted else None
        flt_gate = await search_gate(reader, namespace, flt, allowed)  # scopes, metadata
        allowed = None if flt_gate is None else flt_gate.pks
        if allowed is not None and not allowed:
            return []
        # A broad filter: deeper unfiltered lists, candidates checked (see memory.gate).
        post = flt_gate if flt_gate is not None and flt_gate.pks is None else None
        # Dense (numpy in a worker thread, GIL released) and BM25 (the reader's thread) overlap,
        # neither under the lock: a get, or a write, goes on meanwhile.
        dense_job: Awaitable[list[tuple[int, float]] | None]
        if index is None or qvec is None:
            dense_job = _nothing()
        elif post is None:
            dense_job = vectors.top(index, qvec, depth, allowed)
        else:
            dense_job = _dense_gated(reader, vectors, index, qvec, depth, post)
        bm25_job: Awaitable[list[tuple[int, float]] | None]
        if mode == "dense":
            bm25_job = _nothing()
        elif post is None:
            bm25_job = _bm25(reader, query, namespace, depth, allowed, vectors.narrow)
        else:
            bm25_job = _bm25_gated(reader, query, namespace, depth, post)
        dense_or_none, lexical_or_none = await asyncio.gather(dense_job, bm25_job)
        if post is not None and (dense_or_none is None or lexical_or_none is None):
            # The filter matched few memories after all: its exact list is cheaper now.
            allowed = await post.exact(reader)
            post = None
            if not allowed:
                return []
            if dense_or_none is None and index is not None and qvec is not None:
                dense_or_none = await vectors.top(index, qvec, depth, allowed)
            if lexical_or_none is None:
                lexical_or_none = await _bm25(reader, query, namespace, depth, allowed)
        dense, lexical = dense_or_none or [], lexical_or_none or []
        following: dict[int, int] = {}
        # Hybrid only (BM25 lends; see fused_relevance): on LoCoMo dev it lifts hybrid
        # recall@10, and dense-only recall does not gain.
        if mode == "hybrid" and index is not None and settings.neighbour_weight > 0:
            following = (
                index.following([pk for pk, _ in lexical], allowed)
                if post is None
                else await _following_gated(reader, index, [pk for pk, _ in lexical], post)
            )
        fused = fuse(mode, dense, lexical, following, settings)
        covered = None
        if wants_coverage(vectors.model, mode, lexical):
            best = await _contents(reader, [pk for pk, _ in lexical[:COVERAGE_OF]])
            covered = coverage(query, best)
        scored, floor = calibrated(
            fused, vectors.model, mode, dense, covered, min_score, settings.min_score
        )
        if settings.recency_half_life_days is not None and scored:
            born = await _created(reader, [pk for pk, _ in scored])
            scored = decayed(scored, born, settings.recency_half_life_days)
        scored = shortlist(scored, floor, k, max_tokens)
        # A memory deleted since it was ranked is not found here and drops out.
        rows = await _rows(reader, vectors.model, [pk for pk, _ in scored])
    return final_hits(scored, rows, _parts, to_hit, dense, lexical, k, max_tokens)


def _parts(row: Row) -> tuple[str, npt.NDArray[np.float32] | None]:
    vector = None if row["vector"] is None else np.frombuffer(row["vector"], np.float32)
    return when(row), vector


async def _contents(db: Queries, pks: list[int]) -> list[str]:
    rows = await db.fetchall(
        "SELECT content FROM memories WHERE pk IN (SELECT value FROM json_each(?))",
        (json.dumps(pks),),
    )
    return [str(r["content"]) for r in rows]


async def _created(db: Queries, pks: list[int]) -> dict[int, str]:
    rows = await db.fetchall(
        "SELECT pk, created_at, updated_at FROM memories "
        "WHERE pk IN (SELECT value FROM json_each(?))",
        (json.dumps(pks),),
    )
    return {int(r["pk"]): when(r) for r in rows}


def check_min_score(min_score: object) -> None:
    """A ``min_score`` is None (the setting) or a number in [0, 1]."""
    if min_score is None:
        return
    ok = isinstance(min_score, int | float) and not isinstance(min_score, bool)
    if not ok or not math.isfinite(float(min_score)) or not 0.0 <= float(min_score) <= 1.0:  # type: ignore[arg-type]
        raise MemoryInputError(f"min_score must be a number from 0 to 1, got {min_score!r}")


async def _nothing() -> list[tuple[int, float]] | None:
    return []


def _deeper(depth: int, have: int, wanted: int, limit: int) -> int:
    """The next candidate depth: enough for ``depth`` passing at the pass rate seen so far
    (``wanted`` of ``have`` candidates), with a margin; at least four times deeper."""
    rate = max(wanted, 1) / max(have, 1)
    return min(limit, max(4 * have, math.ceil(1.5 * depth / rate)))


async def _dense_gated(
    db: Queries,
    vectors: Vectors,
    index: VectorIndex,
    qvec: npt.NDArray[np.float32],
    depth: int,
    flt_gate: Gate,
) -> list[tuple[int, float]] | None:
    """The top ``depth`` dense hits passing ``flt_gate``: the first passing ones of a deeper
    unfiltered list, deepened while short; None once the gate is exhausted (see Gate)."""
    n = min(index.size, _DENSE_POOL * depth)
    while True:
        ranked = await vectors.top(index, qvec, n)
        kept = await _passing(db, ranked, depth, flt_gate)
        if len(kept) >= depth:
            return kept
        if flt_gate.exhausted:  # (checking may have stopped short of the list's end)
            return None
        if len(ranked) < n or n >= index.size:
            return kept
        n = _deeper(depth, n, len(kept), index.size)


_START = 8
"""Candidates are checked ``_START * depth`` at first, then more at the pass rate seen."""
_DENSE_POOL = 40
"""The dense list of a broad filter starts this many times ``depth`` deep: scoring is the
cost (the whole matrix), taking a longer top is not."""
_BM25_POOL = 16
"""The BM25 list of a broad filter starts this many times ``depth`` deep."""


async def _passing(
    db: Queries, ranked: list[tuple[int, float]], depth: int, flt_gate: Gate
) -> list[tuple[int, float]]:
    """The first ``depth`` of ``ranked`` that pass ``flt_gate`` (fewer when short or once the
    gate is exhausted), checked a chunk at a time."""
    out: list[tuple[int, float]] = []
    at = 0
    chunk = _START * depth
    while at < len(ranked) and len(out) < depth:
        part = ranked[at : at + chunk]
        passing = set(await flt_gate.keep(db, [pk for pk, _ in part]))
        out += [(pk, score) for pk, score in part if pk in passing]
        at += len(part)
        if flt_gate.exhausted:
            break
        rate = max(len(out), 1) / at  # the pass rate so far: check what should be enough
        chunk = max(depth, math.ceil(1.5 * (depth - len(out)) / rate))
    return out[:depth]


async def _bm25_gated(
    db: Queries, query: str, namespace: str, depth: int, flt_gate: Gate
) -> list[tuple[int, float]] | None:
    """The top ``depth`` BM25 hits passing ``flt_gate``: through its FTS scope expression when
    it has one (exact), else the first passing hits of a deeper store-wide list, deepened while
    short; None once the gate is exhausted."""
    if flt_gate.fts is not None:
        return await _bm25(db, query, namespace, depth, None, scope=flt_gate.fts)
    match = fts_query(query)
    if match is None:
        return []
    n = _BM25_POOL * depth
    while True:
        rows = await db.fetchall(
            "SELECT rowid, bm25(memories_fts, 1.0, 0.5, 0.0) AS score FROM memories_fts "
            "WHERE memories_fts MATCH ? ORDER BY score, rowid LIMIT ?",
            [match, n],
        )
        ranked = [(int(r["rowid"]), -float(r["score"])) for r in rows]
        kept = await _passing(db, ranked, depth, flt_gate)
        if len(kept) >= depth:
            return kept
        if flt_gate.exhausted:
            return None
        if len(ranked) < n:
            return kept
        n = _deeper(depth, n, len(kept), 1 << 30)


async def _following_gated(
    db: Queries, index: VectorIndex, pks: list[int], flt_gate: Gate
) -> dict[int, int]:
    """``index.following(pks, allowed)`` for a gate without a pk list: the memories stored
    after each of ``pks`` are checked a few at a time until one passes."""
    if not index.ascending or index.size == 0 or not pks:
        return {}
    rows = index.pks
    wanted = np.asarray(pks, dtype=np.int64)
    at = np.searchsorted(rows, wanted, side="right")
    start = {
        pk: i
        for pk, i in zip(wanted.tolist(), at.tolist(), strict=True)
        if i > 0 and rows[i - 1] == pk and i < len(rows)
    }
    out: dict[int, int] = {}
    width = 8  # one round for a filter passing one memory in five or more
    while start:
        windows = {pk: rows[i : i + width].tolist() for pk, i in start.items()}
        passing = set(await flt_gate.keep(db, [p for w in windows.values() for p in w]))
        for pk, window in windows.items():
            found = next((p for p in window if p in passing), None)
            if found is not None:
                out[pk] = int(found)
                del start[pk]
            elif start[pk] + width >= len(rows):
                del start[pk]
            else:
                start[pk] += width
        width *= 4
    return out


_WIDE = 4
"""The unfiltered BM25 pass reads this many times ``depth`` hits of the whole store."""


async def _bm25(
    db: Queries,
    query: str,
    namespace: str,
    depth: int,
    allowed: list[int] | None,
    narrow: set[str] | None = None,
    scope: str | None = None,
) -> list[tuple[int, float]]:
    """(pk, bm25) best first (bm25 negated: higher is better), the tags column half-weighted.

    ``narrow``: namespaces for which the unfiltered pass came up short; remembered so that
    they go straight to the filtered query next time (the caller keeps the set).
    ``scope``: an FTS5 expression selecting exactly the memories searched (``allowed`` None)."""
    match = fts_query(query)
    if match is None:
        return []
    sql = (
        "SELECT rowid, bm25(memories_fts, 1.0, 0.5, 0.0) AS score FROM memories_fts "
        "WHERE memories_fts MATCH ?"
    )
    params: list[Any]
    if scope is not None:
        # The scope's token list (as long as the scope) is walked beside the words'.
        params = [f"{scope} AND ({match})"]
    elif allowed is None:
        if narrow is None or namespace not in narrow:
            found = await _bm25_wide(db, sql, match, namespace, depth)
            if found is not None:
                return found
            if narrow is not None:
                narrow.add(namespace)
        # The namespace is matched inside FTS5 (see migration 2), so no row of ``memories`` is
        # read until the top ``depth`` are known; but FTS5 walks the namespace token's list,
        # as long as the namespace (10 ms at 100k memories).
        ns_token = "n" + namespace.encode("utf-8").hex()
        params = [f'ns_token : "{ns_token}" AND ({match})']
    else:
        # The tagged pks (all of this namespace) are checked against each match. The ``+``
        # matters: a bare ``rowid IN (...)`` is handed to FTS5, which then runs the whole
        # MATCH once per listed pk (0.8 s for 1k pks at 100k memories; 2 ms this way). The
        # namespace token is left out too: bm25() counts the documents of every phrase, and
        # the namespace's is the longest list of all.
        sql += " AND +rowid IN (SELECT value FROM json_each(?))"
        params = [match, json.dumps(allowed)]
    # rowid breaks ties, so that every path (and LIMIT) cuts a tied run the same way.
    sql += " ORDER BY score, rowid LIMIT ?"
    params.append(depth)
    rows = await db.fetchall(sql, params)
    return [(int(r["rowid"]), -float(r["score"])) for r in rows]


async def _bm25_wide(
    db: Queries, sql: str, match: str, namespace: str, depth: int
) -> list[tuple[int, float]] | None:
    """The namespace's top ``depth`` from the store-wide ranking, or None when its top
    ``_WIDE * depth`` hold fewer than ``depth`` of the namespace's and may miss some.

    Exact: the store-wide order restricted to one namespace is that namespace's order (bm25()
    weighs terms by store-wide counts either way). Cheap when the namespace holds much of the
    store (the posting lists of the query's words only: 5 ms instead of 15 at 100k)."""
    wide = _WIDE * depth
    rows = await db.fetchall(
        f"SELECT s.rowid, s.score, m.namespace = ? AS here FROM ({sql} ORDER BY score, rowid "
        "LIMIT ?) AS s JOIN memories m ON m.pk = s.rowid ORDER BY s.score, s.rowid",
        [namespace, match, wide],
    )
    kept = [(int(r["rowid"]), -float(r["score"])) for r in rows if r["here"]][:depth]
    if len(kept) >= depth or len(rows) < wide:
        return kept
    return None


_ROW_AND_VECTOR = ", ".join(f"m.{c}" for c in COLUMNS.split(", ")) + ", e.vector"


async def _rows(db: Queries, model: str, pks: list[int]) -> dict[int, Row]:
    """Rows by pk with their stored ``vector`` (None when embedded by another model)."""
    if not pks:
        return {}
    rows = await db.fetchall(
        f"SELECT {_ROW_AND_VECTOR} FROM memories m LEFT JOIN embeddings e "
        "ON e.text_hash = m.embed_hash AND e.model = m.embed_model AND m.embed_model = ? "
        "WHERE m.pk IN (SELECT value FROM json_each(?)) AND m.deleted_at IS NULL",
        (model, json.dumps(pks)),
    )
    return {int(r["pk"]): r for r in rows}


def to_hit(row: RowLike, score: float, dense_rank: int | None, bm25_rank: int | None) -> SearchHit:
    """A hit from a row of either backend."""
    return SearchHit(
        id=row["id"],
        namespace=row["namespace"],
        user_id=row["user_id"],
        agent_id=row["agent_id"],
        run_id=row["run_id"],
        score=score,
        compressed=row["compressed"],
        content=row["content"],
        metadata=dict(decoded(row["metadata"])),
        tags=list(decoded(row["tags"])),
        tokens_original=row["tokens_original"],
        tokens_compressed=row["tokens_compressed"],
        dense_rank=dense_rank,
        bm25_rank=bm25_rank,
    )
