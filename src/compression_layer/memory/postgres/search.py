"""The search path on Postgres: pgvector and full-text candidate lists, then the same fusion,
correction ordering and packing as SQLite (``memory/ranking.py``)."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import numpy as np

from compression_layer.memory.filters import MemoryFilter
from compression_layer.memory.postgres.db import Conn, PgDatabase, fetchall
from compression_layer.memory.postgres.filters import pg_scope, pg_where
from compression_layer.memory.postgres.rows import COLUMNS, Vector, as_vector
from compression_layer.memory.postgres.vectors import PgVectors
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
from compression_layer.memory.search import SearchRequest, to_hit
from compression_layer.memory.types import SearchHit
from compression_layer.settings import MemorySettings


def query_words(query: str) -> list[str]:
    """The words ``ranking.fts_query`` keeps (stop words dropped), in order."""
    match = fts_query(query)
    if match is None:
        return []
    return [w.strip('"') for w in match.split(" OR ") if w.strip('"')]


async def run_search(
    db: PgDatabase, vectors: PgVectors, settings: MemorySettings, req: SearchRequest
) -> list[SearchHit]:
    """See ``MemoryStore.search``; the same steps as SQLite's ``memory/search.py``."""
    query, namespace, k, wanted = req.query, req.namespace, req.k, req.tags
    max_tokens, mode, min_score, flt = req.max_tokens, req.mode, req.min_score, req.flt
    depth = max(settings.candidates, k)
    qvec: Vector | None = None
    if mode != "bm25":
        qvec = (await asyncio.to_thread(vectors.embed, [query]))[0]

    lends = mode == "hybrid" and settings.neighbour_weight > 0

    # Two chains on two pooled connections, side by side: the kNN list then its rows; the BM25
    # list, its hits' followers, then their rows. Every row a score may need (contents for
    # coverage, times for decay and ties, vectors for corrections) is then at hand, without a
    # round trip after the lists (the fused candidates are drawn from these pks).
    async def dense_job() -> tuple[list[tuple[int, float]], dict[int, dict[str, Any]]]:
        if qvec is None:
            return [], {}
        async with db.connection() as conn:
            found = await vectors.nearest(conn, namespace, qvec, depth, wanted or None, flt=flt)
        return found, await rows_with_vectors(db, [pk for pk, _ in found])

    async def bm25_job() -> tuple[
        list[tuple[int, float]], dict[int, int], dict[int, dict[str, Any]]
    ]:
        if mode == "dense":
            return [], {}, {}
        found = await bm25(db, vectors, query, namespace, depth, wanted, flt)
        pks = [pk for pk, _ in found]
        nexts = await followers(db, vectors, namespace, pks, wanted, flt) if lends and pks else {}
        return (
            found,
            nexts,
            await rows_with_vectors(db, list(dict.fromkeys([*pks, *nexts.values()]))),
        )

    (dense, dense_rows), (lexical, following, lexical_rows) = await asyncio.gather(
        dense_job(), bm25_job()
    )
    # Hybrid only, BM25 lends (as SQLite's search; see ranking.fused_relevance).
    fused = fuse(mode, dense, lexical, following if lends and dense and lexical else {}, settings)
    rows = {**dense_rows, **lexical_rows}
    covered = None
    if wants_coverage(vectors.model, mode, lexical):
        best = [rows[pk]["content"] for pk, _ in lexical[:COVERAGE_OF] if pk in rows]
        covered = coverage(query, best)
    scored, floor = calibrated(
        fused, vectors.model, mode, dense, covered, min_score, settings.min_score
    )
    scored = [(pk, score) for pk, score in scored if pk in rows]
    if settings.recency_half_life_days is not None and scored:
        born = {pk: when(rows[pk]) for pk, _ in scored}
        scored = decayed(scored, born, settings.recency_half_life_days)
    scored = shortlist(scored, floor, k, max_tokens)

    def parts(row: dict[str, Any]) -> tuple[str, Vector | None]:
        return when(row), as_vector(row["v"]) if row["embed_model"] == vectors.model else None

    return final_hits(scored, rows, parts, to_hit, dense, lexical, k, max_tokens)


async def followers(
    db: PgDatabase,
    vectors: PgVectors,
    namespace: str,
    pks: list[int],
    tags: list[str],
    flt: MemoryFilter | None,
) -> dict[int, int]:
    """For each of ``pks``, the memory stored right after it among those the search may return
    (same namespace, visible under ``flt``, carrying ``tags``, embedded by this store's model),
    as SQLite's ``VectorIndex.following``: one index probe per pk."""
    visible, vis_params = pg_where(flt, "m", namespace)
    where = f"m.namespace = %s AND m.embed_model = %s AND {visible}"
    params: list[Any] = [namespace, vectors.model, *vis_params]
    if tags:
        where += " AND m.tags @> %s::jsonb"
        params.append(json.dumps(tags, ensure_ascii=False))
    sql = (
        "SELECT l.pk, (SELECT m.pk FROM memories m WHERE m.pk > l.pk AND "
        f"{where} ORDER BY m.pk LIMIT 1) AS next FROM unnest(%s::bigint[]) AS l(pk) "
        f"WHERE EXISTS (SELECT 1 FROM memories m WHERE m.pk = l.pk AND {where})"
    )
    async with db.connection() as conn:
        rows = await fetchall(conn, sql, [*params, pks, *params], binary=True)
    return {int(r["pk"]): int(r["next"]) for r in rows if r["next"] is not None}


BM25_K1 = 1.2
BM25_B = 0.75


async def bm25(
    db: PgDatabase,
    vectors: PgVectors,
    query: str,
    namespace: str,
    depth: int,
    tags: list[str],
    flt: MemoryFilter | None = None,
    postings: bool = True,
) -> list[tuple[int, float]]:
    """(pk, BM25) best first over the query's content words (those of ``ranking.fts_query``,
    stemmed by Postgres' english configuration), a document matching any of them.

    Computed without reading a tsvector: each word's matches (their count is its document
    frequency in the namespace) come from the posting table ``memory_terms`` (an index-only
    range, ``_bm25_postings``) or, with tags or metadata conditions, from the GIN index and the
    rows; a memory scores sum(idf x (k1 + 1) / (1 + k1 (1 - b + b len / avg len))), BM25 with a
    term counted once per memory (memories are short; repeated words are rare in them). Content
    and tags count alike. ``ts_rank`` instead read and scored every matching tsvector, 8 us a
    row; the GIN path visits every matching row (80 ms a search at 100k memories).
    """
    words = query_words(query)
    if not words:
        return []
    # The posting table serves every search without tags or metadata conditions; ``postings``
    # False forces the GIN path (tests and the bench compare the two).
    scope = pg_scope(flt, "t") if postings and not tags else None
    async with db.connection() as conn:
        total, avg_len = await vectors.namespace_stats(conn, namespace)
        if scope is not None:
            return await _bm25_postings(conn, words, namespace, depth, scope, total, avg_len)
        visible, vis_params = pg_where(flt, "m", namespace)
        where = f"m.namespace = %s AND {visible}"
        params: list[Any] = [None, namespace, *vis_params]
        if tags:
            where += " AND m.tags @> %s::jsonb"
            params.append(json.dumps(tags, ensure_ascii=False))
        # One branch per word, each its own GIN bitmap scan: a join of the words with the
        # table was planned as a scan of every memory (68 ms at 100k).
        branch = (
            "SELECT {i} AS term, m.pk, m.doc_len FROM memories m "
            f"WHERE m.fts @@ plainto_tsquery('english', %s) AND {where}"
        )
        branches = " UNION ALL ".join(branch.format(i=i) for i in range(len(words)))
        params = [p for w in words for p in (w, *params[1:])]
        params += [max(total, 1), max(avg_len, 1.0), depth]
        rows = await fetchall(conn, _score_sql(branches), params, binary=True)
    return [(int(r["pk"]), float(r["score"])) for r in rows]


def _score_sql(hits: str) -> str:
    """BM25 over ``hits`` (term, pk, doc_len); parameters: namespace size, mean length, limit.
    Every constant is float8 (a bare 0.75 is numeric, whose arithmetic cost 5x per row)."""
    k1, b = f"{BM25_K1}::float8", f"{BM25_B}::float8"
    norm = f"{k1} * (1::float8 - {b} + {b} * h.doc_len / %s::float8)"
    return (
        f"WITH hits AS MATERIALIZED ({hits}), "
        "df AS (SELECT term, ln(1::float8 + (%s::float8 - count(*) + 0.5::float8) "
        "/ (count(*) + 0.5::float8)) AS idf FROM hits GROUP BY term) "
        f"SELECT h.pk, sum(df.idf * ({k1} + 1::float8) / (1::float8 + {norm})) AS score "
        "FROM hits h JOIN df USING (term) GROUP BY h.pk ORDER BY score DESC, h.pk LIMIT %s"
    )


_PLAIN = re.compile(r"[a-z0-9]+")
"""A word the english parser reads as one token: at most one lexeme, found in the query."""


async def _bm25_postings(
    conn: Conn,
    words: list[str],
    namespace: str,
    depth: int,
    scope: tuple[str, list[Any]],
    total: int,
    avg_len: float,
) -> list[tuple[int, float]]:
    """``bm25`` from the posting table (migration 4) when no tag or metadata filter applies:
    each word's postings are one index-only range of ``memory_terms_key``, no memory row read.

    A word is matched as ``plainto_tsquery`` matches it (every lexeme the english configuration
    makes of it, a stop word none), so the list and its scores are the GIN path's. A plain word
    (letters and digits) is stemmed inside the query; another ('e-mail') is split into its
    lexemes first, one round trip, and a memory must hold them all."""
    lexemes: list[list[str] | None] = [None if _PLAIN.fullmatch(w) else [] for w in words]
    odd = [w for w, lex in zip(words, lexemes, strict=True) if lex is not None]
    if odd:
        cur = await conn.execute(
            "SELECT tsvector_to_array(to_tsvector('english', w)) AS lexemes "
            "FROM unnest(%s::text[]) WITH ORDINALITY AS u(w, i) ORDER BY i",
            (odd,),
        )
        split = iter([list(r["lexemes"]) for r in await cur.fetchall()])
        lexemes = [None if lex is None else next(split) for lex in lexemes]
    where, scope_params = scope
    branches: list[str] = []
    params: list[Any] = []
    for i, (word, lex) in enumerate(zip(words, lexemes, strict=True)):
        if lex is None:
            branches.append(
                f"SELECT {i} AS term, t.pk, t.doc_len FROM memory_terms t WHERE t.namespace = %s "
                "AND t.term = ANY(tsvector_to_array(to_tsvector('english'::regconfig, %s))) "
                f"AND {where}"
            )
            params += [namespace, word, *scope_params]
        elif len(lex) == 1:
            branches.append(
                f"SELECT {i} AS term, t.pk, t.doc_len FROM memory_terms t "
                f"WHERE t.namespace = %s AND t.term = %s AND {where}"
            )
            params += [namespace, lex[0], *scope_params]
        elif lex:
            branches.append(
                f"SELECT {i} AS term, t.pk, min(t.doc_len) AS doc_len FROM memory_terms t "
                f"WHERE t.namespace = %s AND t.term = ANY(%s) AND {where} "
                f"GROUP BY t.pk HAVING count(*) = {len(lex)}"
            )
            params += [namespace, lex, *scope_params]
    if not branches:
        return []
    # Each word's postings are read twice, both index-only: once counted (its document
    # frequency, an InitPlan), once scored; cheaper than materialising every posting and
    # joining them with their counts.
    k1, b = f"{BM25_K1}::float8", f"{BM25_B}::float8"
    ctes = ", ".join(f"h{i} AS NOT MATERIALIZED ({sql})" for i, sql in enumerate(branches))
    scored = " UNION ALL ".join(
        f"SELECT h.pk, (SELECT ln(1::float8 + (%s::float8 - count(*) + 0.5::float8) "
        f"/ (count(*) + 0.5::float8)) FROM h{i}) * ({k1} + 1::float8) / (1::float8 + {k1} "
        f"* (1::float8 - {b} + {b} * h.doc_len / %s::float8)) AS w FROM h{i} h"
        for i in range(len(branches))
    )
    params += [max(total, 1), max(avg_len, 1.0)] * len(branches) + [depth]
    sql = (
        f"WITH {ctes} SELECT pk, sum(w) AS score FROM ({scored}) AS x "
        "GROUP BY pk ORDER BY score DESC, pk LIMIT %s"
    )
    rows = await fetchall(conn, sql, params, binary=True)
    return [(int(r["pk"]), float(r["score"])) for r in rows]


async def rows_with_vectors(db: PgDatabase, pks: list[int]) -> dict[int, dict[str, Any]]:
    """Live rows by pk with their vector as ``v`` (float32 array). The vector comes in
    pgvector's binary form (``vector_send``: int16 dim, int16 unused, big-endian float4s), read
    by numpy: as ``real[]`` 60 vectors of 384 became 23k Python floats (5 ms of a 7 ms fetch)."""
    if not pks:
        return {}
    async with db.connection() as conn, conn.cursor(binary=True) as cur:
        await cur.execute(
            f"SELECT {COLUMNS}, vector_send(embedding) AS v FROM memories "
            "WHERE pk = ANY(%s) AND deleted_at IS NULL",
            (pks,),
        )
        rows = await cur.fetchall()
    for r in rows:
        r["v"] = np.frombuffer(r["v"], dtype=">f4", offset=4).astype(np.float32)
    return {int(r["pk"]): r for r in rows}
