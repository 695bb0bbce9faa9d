"""The agent memory store: SQLite (WAL) via aiosqlite, hybrid dense + BM25 search.

One ``MemoryStore`` owns one connection. Its async methods are safe to call concurrently from
one event loop: database work is serialised by an ``asyncio.Lock`` (a connection has one
transaction at a time), while compression and embedding, the slow parts, run in worker threads
outside the lock. Several processes may share a database file: writes take SQLite's write lock
with ``BEGIN IMMEDIATE`` and wait up to ``busy_timeout_ms``; the in-memory vector cache notices
other processes' commits through ``PRAGMA data_version``.
"""

from __future__ import annotations

import asyncio
import builtins
import json
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal

import aiosqlite
import numpy as np
import numpy.typing as npt

from compression_layer.memory import writes
from compression_layer.memory.errors import (
    MemoryInputError,
    MemoryNotFoundError,
    MemoryStoreError,
)
from compression_layer.memory.migrations import SCHEMA_VERSION, migrate
from compression_layer.memory.rows import (
    COLUMNS,
    Compressor,
    Pending,
    apply_compression,
    new_id,
    row_to_memory,
    set_embed_hash,
)
from compression_layer.memory.search import VectorIndex
from compression_layer.memory.types import Memory, MemoryPage, SearchHit, StoreStats
from compression_layer.memory.validate import (
    check_content,
    check_id,
    check_metadata,
    check_namespace,
    check_tags,
    sha256,
)
from compression_layer.settings import MemorySettings, data_dir, load_area

Embedder = Callable[[list[str]], Any]
"""``(texts) -> array (len(texts), dim)``; rows are normalised to unit length by the store."""

DEFAULT_EMBED_MODEL = "all-MiniLM-L6-v2"
SearchMode = Literal["hybrid", "dense", "bm25"]


def _default_compressor(text: str) -> Any:
    from compression_layer import compress

    return compress(text)


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
    """Memories kept compressed for injection, originals always kept. Open with ``open()``."""

    def __init__(
        self,
        conn: aiosqlite.Connection,
        path: Path,
        settings: MemorySettings,
        compressor: Compressor,
        embedder: Embedder,
        embed_model: str,
    ) -> None:
        self._conn = conn
        self.path = path
        self.settings = settings
        self._compressor = compressor
        self._embedder = embedder
        self.embed_model = embed_model
        self._lock = asyncio.Lock()
        self._indexes: dict[str, VectorIndex] = {}
        self._data_version: int | None = None
        self._dim: int | None = None
        self._closed = False

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
        db = Path(path).expanduser() if path else default_db_path(settings)
        db.parent.mkdir(parents=True, exist_ok=True)
        if embedder is None:
            model = embed_model or DEFAULT_EMBED_MODEL
        elif hasattr(embedder, "encode"):
            # A sentence-transformers model (e.g. load_embedder()): wrap it as the callable the
            # store expects. It is taken to be the packaged MiniLM unless embed_model says not.
            embedder = _encoder_callable(embedder)
            model = embed_model or DEFAULT_EMBED_MODEL
        else:
            model = embed_model or str(getattr(embedder, "model_name", "") or "custom")
        timeout_s = settings.busy_timeout_ms / 1000
        try:
            conn = await aiosqlite.connect(str(db), isolation_level=None, timeout=timeout_s)
        except Exception as exc:  # sqlite3 raises OperationalError for unopenable paths
            raise MemoryStoreError(f"cannot open memory database {db}: {exc}") from exc
        try:
            await conn.execute(f"PRAGMA busy_timeout = {int(settings.busy_timeout_ms)}")
            await conn.execute("PRAGMA journal_mode = WAL")
            await conn.execute("PRAGMA foreign_keys = ON")
            await conn.execute(f"PRAGMA synchronous = {settings.synchronous}")
            await migrate(conn)
        except Exception as exc:
            await conn.close()
            if isinstance(exc, MemoryStoreError):
                raise
            raise MemoryStoreError(f"cannot open memory database {db}: {exc}") from exc
        store = cls(
            conn,
            db,
            settings,
            compressor or _default_compressor,
            embedder or _default_embedder,
            model,
        )
        try:
            yield store
        finally:
            store._closed = True
            await conn.close()

    # -- writes (implemented in writes.py) -----------------------------------------------------

    async def store(
        self,
        content: str,
        *,
        namespace: str = "default",
        tags: Iterable[str] = (),
        metadata: Mapping[str, Any] | None = None,
        compress: bool = True,
    ) -> Memory:
        """Store one memory; returns it with ``status`` saying what happened.

        The same content already in the namespace returns the existing memory (``existing``),
        with the new tags and metadata keys merged into it (``notes`` says which). A
        near-duplicate (cosine >= ``near_duplicate_threshold`` and the same facts and meaning
        operators, see ``search.meaning_differences``) is skipped (its labels merged into the
        kept memory), updates the old memory (tags merged, metadata keys overwritten) or is
        kept, per ``near_duplicate_policy``. A similar text that differs in a fact or in a
        negation, modal, condition or comparison is a correction, never a duplicate: it is kept.
        """
        result = await self.store_many(
            [content], namespace=namespace, tags=tags, metadata=metadata, compress=compress
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
    ) -> builtins.list[Memory]:
        """Store a batch in one transaction: one Memory per item, in order.

        An item is a content string, or a mapping with ``content`` and optionally ``namespace``,
        ``tags``, ``metadata`` overriding the keyword defaults. Every item is checked before any
        is written: one bad item raises MemoryInputError and nothing is stored.
        """
        self._check_open()
        pending = [writes.to_pending(self, item, namespace, tags, metadata) for item in items]
        return await writes.store_pending(self, pending, compress)

    async def update(
        self,
        memory_id: str,
        *,
        content: str | None = None,
        tags: Iterable[str] | None = None,
        metadata: Mapping[str, Any] | None = None,
        compress: bool = True,
    ) -> Memory:
        """Replace the content (recompressed, re-embedded), tags and/or metadata of a memory."""
        self._check_open()
        return await writes.update(self, memory_id, content, tags, metadata, compress)

    async def delete(self, memory_id: str) -> Memory:
        """Delete one memory and return it; MemoryNotFoundError when the id is unknown."""
        self._check_open()
        return await writes.delete(self, memory_id)

    async def delete_namespace(self, namespace: str) -> int:
        """Delete every memory of ``namespace``; returns how many there were."""
        self._check_open()
        return await writes.delete_namespace(self, namespace)

    async def import_records(self, records: Iterable[Mapping[str, Any]]) -> dict[str, int]:
        """Import exported dicts as they are (ids, timestamps, compressed text kept).

        Returns counts ``created`` and ``existing`` (same id and content already here). A record
        whose id is taken by different content, or whose hash does not match its content, raises
        MemoryConflictError / MemoryInputError before anything is written.
        """
        self._check_open()
        from compression_layer.memory.transfer import import_records

        return await import_records(self, list(records))

    # -- reads ---------------------------------------------------------------------------------

    async def get(self, memory_id: str) -> Memory:
        """The memory with this id; MemoryNotFoundError when there is none."""
        self._check_open()
        check_id(memory_id)
        async with self._lock:
            row = await self._row_by_id(memory_id)
        if row is None:
            raise MemoryNotFoundError(memory_id)
        return row_to_memory(row)

    async def list(
        self, namespace: str | None = "default", limit: int = 50, cursor: str | None = None
    ) -> MemoryPage:
        """Memories in insertion order, ``limit`` per page; ``namespace=None`` lists all."""
        self._check_open()
        if namespace is not None:
            check_namespace(namespace)
        if not isinstance(limit, int) or not 1 <= limit <= 1000:
            raise MemoryInputError(f"limit must be from 1 to 1000, got {limit!r}")
        after = 0
        if cursor is not None:
            if not isinstance(cursor, str) or not cursor.isdigit():
                raise MemoryInputError(f"invalid cursor {cursor!r}")
            after = int(cursor)
        sql = f"SELECT {COLUMNS} FROM memories WHERE pk > ?"
        params: builtins.list[Any] = [after]
        if namespace is not None:
            sql += " AND namespace = ?"
            params.append(namespace)
        sql += " ORDER BY pk LIMIT ?"
        params.append(limit + 1)
        async with self._lock, self._conn.execute(sql, params) as cur:
            rows = list(await cur.fetchall())
        more = len(rows) > limit
        rows = rows[:limit]
        return MemoryPage(
            items=[row_to_memory(r) for r in rows],
            next_cursor=str(rows[-1][0]) if more and rows else None,
        )

    async def stats(self, namespace: str | None = None) -> StoreStats:
        """Counts and tokens saved, for ``namespace`` or (None) the whole store."""
        self._check_open()
        where, params = ("WHERE namespace = ?", [namespace]) if namespace else ("", [])
        if namespace is not None:
            check_namespace(namespace)
        async with self._lock:
            async with self._conn.execute(
                f"SELECT namespace, COUNT(*), COALESCE(SUM(tokens_original), 0), "
                f"COALESCE(SUM(tokens_compressed), 0) FROM memories {where} GROUP BY namespace",
                params,
            ) as cur:
                rows = list(await cur.fetchall())
            async with self._conn.execute("SELECT COUNT(*) FROM embeddings") as cur:
                emb = await cur.fetchone()
        orig = sum(int(r[2]) for r in rows)
        comp = sum(int(r[3]) for r in rows)
        return StoreStats(
            memories=sum(int(r[1]) for r in rows),
            namespaces={str(r[0]): int(r[1]) for r in rows},
            tokens_original=orig,
            tokens_compressed=comp,
            tokens_saved=orig - comp,
            embeddings=int(emb[0]) if emb else 0,
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
    ) -> builtins.list[SearchHit]:
        """The ``k`` memories of ``namespace`` most relevant to ``query``, best first.

        ``mode`` hybrid fuses exact dense (MiniLM cosine) and BM25 (FTS5) rankings by weighted
        reciprocal rank fusion; dense and bm25 use one list. ``tags``: only memories carrying
        all of them. ``max_tokens``: keep the best hits whose compressed texts fit the budget.
        Of two versions of one statement (similar, differing in a fact or operator), the newer
        ranks first and the older carries ``superseded_by``.
        """
        from compression_layer.memory.searching import run_search

        return await run_search(self, query, namespace, k, tags, max_tokens, mode)

    async def export(self, namespace: str | None = None) -> AsyncIterator[dict[str, Any]]:
        """Every memory (of ``namespace``, or all) as a plain dict, for lossless JSONL export."""
        self._check_open()
        cursor: str | None = None
        while True:
            page = await self.list(namespace, limit=500, cursor=cursor)
            for memory in page.items:
                yield memory.model_dump(exclude={"status", "notes"})
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    # -- internals shared with the write and search mixins ------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise MemoryStoreError("the memory store is closed")

    async def _row_by_id(self, memory_id: str) -> Any:
        async with self._conn.execute(
            f"SELECT {COLUMNS} FROM memories WHERE id = ?", (memory_id,)
        ) as cur:
            return await cur.fetchone()

    async def _sync_cache(self) -> None:
        """Drop cached vectors when another connection has committed since we last looked."""
        async with self._conn.execute("PRAGMA data_version") as cur:
            row = await cur.fetchone()
        version = int(row[0]) if row else 0
        if version != self._data_version:
            self._indexes.clear()
            self._data_version = version

    async def _index(self, namespace: str) -> VectorIndex | None:
        """The namespace's vectors, loaded once and then kept in step with our own writes."""
        cached = self._indexes.get(namespace)
        if cached is not None:
            return cached
        async with self._conn.execute(
            "SELECT m.pk, e.vector, e.dim FROM memories m JOIN embeddings e "
            "ON e.text_hash = m.embed_hash AND e.model = m.embed_model "
            "WHERE m.namespace = ? AND m.embed_model = ? ORDER BY m.pk",
            (namespace, self.embed_model),
        ) as cur:
            rows = list(await cur.fetchall())
        if not rows:
            return None
        dim = int(rows[0][2])
        vecs = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(-1, dim)
        index = VectorIndex.from_rows(dim, [int(r[0]) for r in rows], vecs)
        self._indexes[namespace] = index
        return index

    def _embed_now(self, texts: builtins.list[str]) -> npt.NDArray[np.float32]:
        """Call the embedder (in a worker thread) and check and normalise what it returns."""
        try:
            raw = self._embedder(texts)
        except Exception as exc:
            raise MemoryStoreError(f"the embedder failed: {exc}") from exc
        vecs = np.asarray(raw, dtype=np.float32)
        if vecs.ndim != 2 or vecs.shape[0] != len(texts):
            raise MemoryStoreError(
                f"the embedder returned shape {vecs.shape} for {len(texts)} texts"
            )
        if self._dim is not None and vecs.shape[1] != self._dim:
            raise MemoryStoreError(
                f"the embedder returned {vecs.shape[1]}-d vectors; this store holds {self._dim}-d"
            )
        self._dim = int(vecs.shape[1])
        norms = np.linalg.norm(vecs, axis=1, keepdims=True)
        return np.ascontiguousarray(vecs / np.where(norms > 0, norms, 1.0), dtype=np.float32)

    async def _vectors(self, texts: Mapping[str, str]) -> dict[str, npt.NDArray[np.float32]]:
        """Vectors by text hash: read from the embeddings table, embedding only what is missing."""
        found: dict[str, npt.NDArray[np.float32]] = {}
        hashes = list(texts)
        async with self._lock:
            for start in range(0, len(hashes), 500):
                chunk = hashes[start : start + 500]
                async with self._conn.execute(
                    "SELECT text_hash, vector FROM embeddings WHERE model = ? AND text_hash IN "
                    "(SELECT value FROM json_each(?))",
                    (self.embed_model, json.dumps(chunk)),
                ) as cur:
                    for h, blob in await cur.fetchall():
                        found[h] = np.frombuffer(blob, dtype=np.float32)
        missing = [h for h in hashes if h not in found]
        if missing:
            vecs = await asyncio.to_thread(self._embed_now, [texts[h] for h in missing])
            found.update(zip(missing, vecs, strict=True))
        return found

    def _pending(
        self,
        content: object,
        namespace: object,
        tags: Iterable[object] | None,
        metadata: Mapping[str, Any] | None,
    ) -> Pending:
        text = check_content(content, self.settings.max_content_bytes)
        return Pending(
            id=new_id(),
            namespace=check_namespace(namespace),
            content=text,
            content_hash=sha256(text),
            tags=check_tags(tags),
            metadata_json=check_metadata(metadata),
        )

    async def _prepare_texts(self, items: Sequence[Pending], compress: bool) -> None:
        """Compress (worker thread) and hash the embedded text of each item."""
        compressor = self._compressor if compress else None

        def work() -> None:
            for item in items:
                apply_compression(item, compressor)
                set_embed_hash(item, self.settings.embed_source)

        await asyncio.to_thread(work)
