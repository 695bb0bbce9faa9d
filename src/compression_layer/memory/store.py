"""The agent memory store: SQLite (WAL) via aiosqlite, hybrid dense + BM25 search.

One ``MemoryStore`` owns one writing connection and a few reading ones. Its async methods are
safe to call concurrently from one event loop: writes are serialised by an ``asyncio.Lock`` (a
connection has one transaction at a time), while compression and embedding, the slow parts, run
in worker threads outside the lock. Reads (``get``, ``list``, ``stats``, a search's SQL) run on
reading connections and never wait for a write or a search; dense scoring runs in a worker
thread. Several processes may share a database file: writes take SQLite's write lock with
``BEGIN IMMEDIATE`` and wait up to ``busy_timeout_ms``; the in-memory vector cache notices other
processes' commits through ``PRAGMA data_version``.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, cast

from compression_layer.memory import edits
from compression_layer.memory.compressing import DefaultCompressor
from compression_layer.memory.db import Database
from compression_layer.memory.errors import MemoryInputError, MemoryNotFoundError
from compression_layer.memory.filters import MemoryFilter, scope_of, sqlite_where
from compression_layer.memory.history import entries as history_entries
from compression_layer.memory.migrations import SCHEMA_VERSION
from compression_layer.memory.pending import Compressor
from compression_layer.memory.postgres.urls import is_postgres_url
from compression_layer.memory.rows import COLUMNS, PREFIXED, check_keys, row_by_id, row_to_memory
from compression_layer.memory.search import SearchMode, run_search
from compression_layer.memory.transfer import import_records
from compression_layer.memory.types import (
    HistoryEntry,
    Memory,
    MemoryPage,
    NamespaceCount,
    ScopeCount,
    SearchHit,
    StoreStats,
)
from compression_layer.memory.validate import check_id, check_namespace
from compression_layer.memory.vectors import Embedder, Vectors
from compression_layer.memory.writes import Writer
from compression_layer.settings import MemorySettings, data_dir, load_area

__all__ = ["DEFAULT_EMBED_MODEL", "Embedder", "MemoryStore", "SearchMode", "default_db_path"]

DEFAULT_EMBED_MODEL = "all-MiniLM-L6-v2"


_default_compressor = DefaultCompressor()  # compress(); a store_many batch scored at once


def _default_embedder(texts: list[str]) -> Any:
    from compression_layer.embeddings import embed

    return embed(texts)


def _encoder_callable(model: Any) -> Embedder:
    def embed(texts: list[str]) -> Any:
        return model.encode(
            texts,
            batch_size=64,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )

    return embed


def default_db_path(settings: MemorySettings) -> Path:
    """``settings.db_path`` or ``<data dir>/memory.sqlite3``."""
    return (
        Path(settings.db_path).expanduser() if settings.db_path else data_dir() / "memory.sqlite3"
    )


class MemoryStore:
    """Memories kept compressed for injection, originals always kept. Open with ``open()``.

    A facade: the database (``db.Database``), the vectors (``vectors.Vectors``) and the write,
    edit, search and import paths are separate modules; this class opens them together and
    checks what callers give before handing it on.
    """

    def __init__(
        self,
        db: Database,
        settings: MemorySettings,
        compressor: Compressor,
        embedder: Embedder,
        embed_model: str,
    ) -> None:
        self.path = db.path
        self.embed_model = embed_model
        self._db = db
        self._vectors = Vectors(embedder, embed_model)
        self._writer = Writer(db, self._vectors, settings, compressor)

    @property
    def settings(self) -> MemorySettings:
        """The memory settings in force; assigning new ones applies to the next call."""
        return self._writer.settings

    @settings.setter
    def settings(self, value: MemorySettings) -> None:
        self._writer.settings = value

    @classmethod
    @asynccontextmanager
    async def open(
        cls,
        path: str | Path | None = None,
        *,
        settings: MemorySettings | None = None,
        compressor: Compressor | None = None,
        embedder: Embedder | None = None,
        embed_model: str | None = None,
    ) -> AsyncIterator[MemoryStore]:
        """Open (creating and migrating if needed) the database; close it on exit.

        ``compressor`` defaults to ``compression_layer.compress`` and ``embedder`` to the packaged
        MiniLM; inject fast fakes in tests. ``embed_model`` names the embedder's vector space
        (vectors are cached per model); it defaults to the embedder's ``model_name`` attribute.
        """
        settings = settings or load_area(MemorySettings)
        url = str(path) if is_postgres_url(path) else None if path else settings.db_url
        if not url:
            path = Path(path).expanduser() if path else default_db_path(settings)
            path.parent.mkdir(parents=True, exist_ok=True)
        if embedder is None:
            model = embed_model or DEFAULT_EMBED_MODEL
        elif hasattr(embedder, "encode"):
            # A sentence-transformers model (e.g. load_embedder()): wrap it as the callable the
            # store expects. It is taken to be the packaged MiniLM unless embed_model says not.
            embedder = _encoder_callable(embedder)
            model = embed_model or DEFAULT_EMBED_MODEL
        else:
            model = embed_model or str(getattr(embedder, "model_name", "") or "custom")
        if url:  # Postgres + pgvector (memory.db_url): the same API, see memory/postgres
            from compression_layer.memory.postgres.store import PostgresMemoryStore

            compressor, embedder = compressor or _default_compressor, embedder or _default_embedder
            async with PostgresMemoryStore.connect(
                url, settings=settings, compressor=compressor, embedder=embedder, embed_model=model
            ) as pg:
                yield cast("MemoryStore", pg)
            return
        assert isinstance(path, Path)
        db = await Database.open(path, settings)
        store = cls(
            db, settings, compressor or _default_compressor, embedder or _default_embedder, model
        )
        try:
            await edits.purge(db, store._vectors, settings.soft_delete_days, only_if_due=True)
            yield store
        finally:
            await db.close()

    # -- writes --------------------------------------------------------------------------------

    async def store(
        self,
        content: str,
        *,
        namespace: str = "default",
        tags: Iterable[str] = (),
        metadata: Mapping[str, Any] | None = None,
        compress: bool = True,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
    ) -> Memory:
        """Store one memory; returns it with ``status`` saying what happened.

        ``user_id``, ``agent_id``, ``run_id`` give it a scope beside the namespace (see
        ``filters``): reads see it only from that scope, or across scopes when asked. The same
        content already in the namespace and scope returns the existing memory (``existing``),
        with the new tags and metadata keys merged into it (``notes`` says which). A
        near-duplicate (cosine >= ``near_duplicate_threshold`` and the same facts and meaning
        operators, see ``ranking.meaning_differences``) is skipped (its labels merged into the
        kept memory), updates the old memory (tags merged, metadata keys overwritten) or is
        kept, per ``near_duplicate_policy``. A similar text that differs in a fact or in a
        negation, modal, condition or comparison is a correction, never a duplicate: it is kept.
        When compression was asked for but could not shorten the text for a reason the engine
        gave (e.g. it could not be loaded), ``notes`` says why it was stored uncompressed.
        """
        result = await self.store_many(
            [content],
            namespace=namespace,
            tags=tags,
            metadata=metadata,
            compress=compress,
            user_id=user_id,
            agent_id=agent_id,
            run_id=run_id,
        )
        return result[0]

    async def store_many(
        self,
        items: Sequence[str | Mapping[str, Any]],
        *,
        namespace: str = "default",
        tags: Iterable[str] = (),
        metadata: Mapping[str, Any] | None = None,
        compress: bool = True,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
    ) -> builtins.list[Memory]:
        """Store a batch in one transaction: one Memory per item, in order.

        An item is a content string, or a mapping with ``content`` and optionally ``namespace``,
        ``tags``, ``metadata``, ``user_id``, ``agent_id``, ``run_id`` overriding the keyword
        defaults. Every item is checked before any is written: one bad item raises
        MemoryInputError and nothing is stored.
        """
        self._db.check_open()
        scope = scope_of(user_id, agent_id, run_id)
        pending = [
            self._writer.to_pending(item, namespace, tags, metadata, scope) for item in items
        ]
        return await self._writer.store(pending, compress)

    async def update(
        self,
        memory_id: str,
        *,
        content: str | None = None,
        tags: Iterable[str] | None = None,
        metadata: Mapping[str, Any] | None = None,
        compress: bool = True,
        scope: Mapping[str, str | None] | None = None,
        actor: str | None = None,
    ) -> Memory:
        """Replace the content (recompressed, re-embedded), tags and/or metadata of a memory,
        and/or move it to another scope (``scope``: the parts to change, e.g.
        ``{"run_id": None}``). The history keeps the old and new values, with ``actor``.
        MemoryConflictError when the content is already in the (new) scope; a deleted memory
        raises MemoryDeletedError (restore it first)."""
        self._db.check_open()
        return await edits.update(
            self._writer, memory_id, content, tags, metadata, compress, scope, actor
        )

    async def delete(self, memory_id: str, *, actor: str | None = None) -> Memory:
        """Delete one memory (soft: restorable for ``soft_delete_days``, then purged) and return
        it with ``deleted_at`` set; MemoryNotFoundError when the id is unknown or already
        deleted."""
        self._db.check_open()
        days = self.settings.soft_delete_days
        return await edits.delete(self._db, self._vectors, memory_id, days, actor)

    async def restore(self, memory_id: str, *, actor: str | None = None) -> Memory:
        """Bring a deleted (not yet purged) memory back as it was. MemoryConflictError when its
        content was stored again in its scope meanwhile."""
        self._db.check_open()
        return await edits.restore(self._db, self._vectors, memory_id, actor)

    async def delete_namespace(self, namespace: str, *, actor: str | None = None) -> int:
        """Delete (soft) every live memory of ``namespace``; returns how many there were."""
        self._db.check_open()
        return await edits.delete_namespace(self._db, self._vectors, namespace, actor)

    async def purge(self, older_than_days: float | None = None) -> int:
        """Remove for good the memories deleted more than ``older_than_days`` ago (default: the
        ``soft_delete_days`` setting; 0: every deleted one); returns how many."""
        self._db.check_open()
        days = self.settings.soft_delete_days if older_than_days is None else older_than_days
        return await edits.purge(self._db, self._vectors, days)

    async def history(self, memory_id: str) -> builtins.list[HistoryEntry]:
        """Every change of a memory, oldest first (deleted memories too, until purged)."""
        self._db.check_open()
        check_id(memory_id)
        async with self._db.reading() as reader:
            found = await history_entries(reader, memory_id)
        if not found:
            raise MemoryNotFoundError(memory_id)
        return found

    async def import_records(self, records: Iterable[Mapping[str, Any]]) -> dict[str, int]:
        """Import exported dicts as they are (ids, timestamps, compressed text kept).

        Returns counts ``created`` and ``existing`` (same id and content already here); a live
        record whose memory is here but deleted (a backup restored after a delete) brings it back
        and counts as created. Records keep their scope and ``deleted_at``. A record
        whose id is taken by different content, or whose hash does not match its content, raises
        MemoryConflictError / MemoryInputError before anything is written.
        """
        self._db.check_open()
        return await import_records(self._writer, builtins.list(records))

    # -- reads ---------------------------------------------------------------------------------

    async def get(self, memory_id: str, *, include_deleted: bool = False) -> Memory:
        """The memory with this id; MemoryNotFoundError when there is none, MemoryDeletedError
        (saying when it was deleted and until when it can be restored) when it is deleted,
        unless ``include_deleted``."""
        self._db.check_open()
        check_id(memory_id)
        async with self._db.reading() as reader:
            row = await row_by_id(reader, memory_id)
        if include_deleted and row is not None:
            return row_to_memory(row)
        return row_to_memory(edits.live_row(row, memory_id, self.settings.soft_delete_days))

    async def list(
        self,
        namespace: str | None = "default",
        limit: int = 50,
        cursor: str | None = None,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        filters: Mapping[str, Any] | None = None,
        all_scopes: bool = False,
    ) -> MemoryPage:
        """Live memories in insertion order, ``limit`` per page; ``namespace=None`` lists all.

        The scope (``user_id``, ``agent_id``, ``run_id``; exact unless ``all_scopes``) and the
        metadata ``filters`` (``{"key": value | {"gte": 3, "in": [...], ...}}``) are those of
        ``filters.MemoryFilter``. A filter on a metadata key no memory of the namespace has is
        refused with the keys it does have (a typo would otherwise look like "no match")."""
        self._db.check_open()
        if namespace is not None:
            check_namespace(namespace)
        flt = MemoryFilter.of(
            user_id=user_id,
            agent_id=agent_id,
            run_id=run_id,
            metadata=filters,
            all_scopes=all_scopes,
        )
        if not isinstance(limit, int) or not 1 <= limit <= 1000:
            raise MemoryInputError(f"limit must be from 1 to 1000, got {limit!r}")
        after = 0
        if cursor is not None:
            if not isinstance(cursor, str) or not cursor.isdigit():
                raise MemoryInputError(f"invalid cursor {cursor!r}")
            after = int(cursor)
        where, where_params = sqlite_where(flt, "m", namespace)
        sql = f"SELECT {PREFIXED} FROM memories m WHERE m.pk > ? AND {where}"
        params: builtins.list[Any] = [after, *where_params]
        if namespace is not None:
            # With metadata conditions their pks drive the read, in pk order (``+``: not the
            # namespace's index, which would read every memory of the namespace, then sort).
            sql += " AND +m.namespace = ?" if flt.conditions else " AND m.namespace = ?"
            params.append(namespace)
        sql += " ORDER BY m.pk LIMIT ?"
        params.append(limit + 1)
        async with self._db.reading() as reader:
            rows = await reader.fetchall(sql, params)
            if not rows and flt.conditions:
                await check_keys(reader, namespace, flt)
        more = len(rows) > limit
        rows = rows[:limit]
        return MemoryPage(
            items=[row_to_memory(r) for r in rows],
            next_cursor=str(rows[-1]["pk"]) if more and rows else None,
        )

    async def list_namespaces(self) -> builtins.list[NamespaceCount]:
        """Every namespace with live memories, and how many each holds."""
        self._db.check_open()
        async with self._db.reading() as reader:
            rows = await reader.fetchall(
                "SELECT namespace, COUNT(*) AS n FROM memories WHERE deleted_at IS NULL "
                "GROUP BY namespace ORDER BY namespace"
            )
        return [NamespaceCount(namespace=r["namespace"], memories=int(r["n"])) for r in rows]

    async def list_scopes(self, namespace: str = "default") -> builtins.list[ScopeCount]:
        """The scopes of ``namespace`` that hold live memories (the unscoped ones as a scope of
        three Nones), with counts."""
        self._db.check_open()
        check_namespace(namespace)
        async with self._db.reading() as reader:
            rows = await reader.fetchall(
                "SELECT user_id, agent_id, run_id, COUNT(*) AS n FROM memories "
                "WHERE namespace = ? AND deleted_at IS NULL "
                "GROUP BY user_id, agent_id, run_id ORDER BY user_id, agent_id, run_id",
                (namespace,),
            )
        return [
            ScopeCount(
                user_id=r["user_id"], agent_id=r["agent_id"], run_id=r["run_id"], memories=r["n"]
            )
            for r in rows
        ]

    async def stats(
        self,
        namespace: str | None = None,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
    ) -> StoreStats:
        """Counts and tokens saved of live memories, for ``namespace`` or (None) the whole store;
        scope parts given narrow it (those not given match any scope)."""
        self._db.check_open()
        if namespace is not None:
            check_namespace(namespace)
        flt = MemoryFilter.of(user_id=user_id, agent_id=agent_id, run_id=run_id, all_scopes=True)
        where, params = sqlite_where(flt, "m")
        if namespace is not None:
            where += " AND m.namespace = ?"
            params.append(namespace)
        async with self._db.reading() as reader:
            rows = await reader.fetchall(
                "SELECT m.namespace, COUNT(*) AS n, COALESCE(SUM(m.tokens_original), 0) AS orig, "
                f"COALESCE(SUM(m.tokens_compressed), 0) AS comp FROM memories m WHERE {where} "
                "GROUP BY m.namespace",
                params,
            )
            emb = await reader.fetchone("SELECT COUNT(*) AS n FROM embeddings")
            gone = await reader.fetchone(
                "SELECT COUNT(*) AS n FROM memories m WHERE m.deleted_at IS NOT NULL"
                + (" AND m.namespace = ?" if namespace is not None else ""),
                [namespace] if namespace is not None else [],
            )
        orig = sum(int(r["orig"]) for r in rows)
        comp = sum(int(r["comp"]) for r in rows)
        return StoreStats(
            memories=sum(int(r["n"]) for r in rows),
            namespaces={str(r["namespace"]): int(r["n"]) for r in rows},
            tokens_original=orig,
            tokens_compressed=comp,
            tokens_saved=orig - comp,
            embeddings=int(emb["n"]) if emb else 0,
            deleted=int(gone["n"]) if gone else 0,
            schema_version=SCHEMA_VERSION,
            db_path=str(self.path),
        )

    async def search(
        self,
        query: str,
        *,
        namespace: str = "default",
        k: int = 10,
        tags: Sequence[str] | None = None,
        max_tokens: int | None = None,
        mode: SearchMode = "hybrid",
        min_score: float | None = None,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        filters: Mapping[str, Any] | None = None,
        all_scopes: bool = False,
    ) -> builtins.list[SearchHit]:
        """The ``k`` memories of ``namespace`` most relevant to ``query``, best first.

        Only memories of the caller's scope (``user_id``, ``agent_id``, ``run_id``: exactly that
        scope, or with ``all_scopes`` any scope matching the parts given) that meet the metadata
        ``filters`` are searched; see ``list`` and ``filters.MemoryFilter``.

        ``score`` is calibrated: the estimated probability (0..1) that the hit is relevant;
        hits under ``min_score`` (default: the ``min_score`` setting) are dropped, so a query
        about nothing stored returns nothing. Equal scores rank the newer memory first.

        ``mode`` hybrid fuses exact dense (MiniLM cosine) and BM25 (FTS5) rankings by weighted
        reciprocal rank fusion; dense and bm25 use one list. ``tags``: only memories carrying
        all of them. ``max_tokens``: keep the best hits whose compressed texts fit the budget.
        Of two versions of one statement (similar, differing in a fact or operator), the newer
        ranks first and the older carries ``superseded_by``.
        """
        self._db.check_open()
        flt = MemoryFilter.of(
            user_id=user_id,
            agent_id=agent_id,
            run_id=run_id,
            metadata=filters,
            all_scopes=all_scopes,
        )
        hits = await run_search(
            self._db,
            self._vectors,
            self.settings,
            query,
            namespace,
            k,
            tags,
            max_tokens,
            mode,
            min_score=min_score,
            flt=flt,
        )
        if not hits and flt.conditions:
            async with self._db.reading() as reader:
                await check_keys(reader, namespace, flt)
        return hits

    async def export(
        self, namespace: str | None = None, *, include_deleted: bool = True
    ) -> AsyncIterator[dict[str, Any]]:
        """Every memory (of ``namespace``, or all; every scope) as a plain dict, for lossless
        JSONL export. Deleted memories not purged yet come too, with their ``deleted_at``, so an
        import keeps them deleted (and restorable)."""
        self._db.check_open()
        if namespace is not None:
            check_namespace(namespace)
        after = 0
        while True:
            sql = f"SELECT {COLUMNS} FROM memories WHERE pk > ?"
            params: builtins.list[Any] = [after]
            if namespace is not None:
                sql += " AND namespace = ?"
                params.append(namespace)
            if not include_deleted:
                sql += " AND deleted_at IS NULL"
            async with self._db.reading() as reader:
                rows = await reader.fetchall(sql + " ORDER BY pk LIMIT 500", params)
            for row in rows:
                yield row_to_memory(row).model_dump(exclude={"status", "notes"})
            if len(rows) < 500:
                return
            after = int(rows[-1]["pk"])
