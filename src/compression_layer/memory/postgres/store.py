"""``PostgresMemoryStore``: the ``MemoryStore`` API over Postgres + pgvector.

Chosen by URL: ``MemoryStore.open`` hands over to ``PostgresMemoryStore.connect`` when
``memory.db_url`` (or the path given) is a ``postgresql://`` URL, and yields it as a
``MemoryStore`` to every caller (server, CLI, library). It is not a subclass, since that would
make ``memory.store`` and this module import each other; instead it has the same public methods
with the same signatures (a test compares them) and the same results and errors
(``tests/memory/test_backends.py`` runs one suite against both backends). Many processes may
share one database: writes to a namespace are serialised by an advisory lock, reads never wait.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

from compression_layer.memory.edits import restorable_until
from compression_layer.memory.errors import (
    MemoryConflictError,
    MemoryDeletedError,
    MemoryInputError,
    MemoryNotFoundError,
)
from compression_layer.memory.pending import Compressor, Pending, item_to_pending, now
from compression_layer.memory.postgres.db import PgDatabase, fetchone
from compression_layer.memory.postgres.filters import pg_where
from compression_layer.memory.postgres.rows import (
    COLUMNS,
    existing_rows,
    lock_namespaces,
    row_by_id,
    row_key,
    row_to_memory,
    set_labels,
    write_rows,
)
from compression_layer.memory.postgres.schema import SCHEMA_VERSION
from compression_layer.memory.postgres.search import run_search
from compression_layer.memory.postgres.vectors import PgVectors
from compression_layer.memory.postgres.writes import PgWriter, VectorMap
from compression_layer.memory.search import SearchMode
from compression_layer.memory.transfer import record_to_pending
from compression_layer.memory.types import Memory, MemoryPage, SearchHit, StoreStats
from compression_layer.memory.validate import (
    check_content,
    check_id,
    check_metadata,
    check_namespace,
    check_tags,
    sha256,
)
from compression_layer.memory.vectors import Embedder
from compression_layer.settings import MemorySettings


async def live_row(row: dict[str, Any] | None, memory_id: str, days: float) -> dict[str, Any]:
    """``row`` when it is a live memory; MemoryNotFoundError / MemoryDeletedError otherwise
    (the same errors and words as SQLite: ``edits.live_row``)."""
    if row is None:
        raise MemoryNotFoundError(memory_id)
    if row["deleted_at"] is not None:
        deleted = str(row["deleted_at"])
        raise MemoryDeletedError(memory_id, deleted, restorable_until(deleted, days))
    return row


class PostgresMemoryStore:
    """Memories in Postgres; open with ``MemoryStore.open`` and a ``postgresql://`` URL."""

    def __init__(
        self,
        db: PgDatabase,
        settings: MemorySettings,
        compressor: Compressor,
        embedder: Embedder,
        embed_model: str,
    ) -> None:
        self.pg = db
        self.path = db.shown
        self.embed_model = embed_model
        self.pg_vectors = PgVectors(embedder, embed_model)
        self.pg_writer = PgWriter(db, self.pg_vectors, settings, compressor)

    @classmethod
    @asynccontextmanager
    async def connect(
        cls,
        url: str,
        *,
        settings: MemorySettings,
        compressor: Compressor,
        embedder: Embedder,
        embed_model: str,
    ) -> AsyncIterator[PostgresMemoryStore]:
        """Connect (migrating if needed); MemoryUnavailableError names the URL, password
        masked, when the server cannot be reached."""
        db = await PgDatabase.open(url, settings.busy_timeout_ms / 1000)
        store = cls(db, settings, compressor, embedder, embed_model)
        try:
            yield store
        finally:
            await store.pg_vectors.close()
            await db.close()

    @property
    def settings(self) -> MemorySettings:
        """The memory settings in force; assigning new ones applies to the next call."""
        return self.pg_writer.settings

    @settings.setter
    def settings(self, value: MemorySettings) -> None:
        self.pg_writer.settings = value

    # -- writes --------------------------------------------------------------------------------

    async def store(
        self,
        content: str,
        *,
        namespace: str = "default",
        tags: Iterable[str] = (),
        metadata: Mapping[str, Any] | None = None,
        compress: bool = True,
    ) -> Memory:
        """See ``MemoryStore.store``."""
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
        self.pg.check_open()
        limit = self.settings.max_content_bytes
        pending = [item_to_pending(item, namespace, tags, metadata, limit) for item in items]
        return await self.pg_writer.store(pending, compress)

    async def update(
        self,
        memory_id: str,
        *,
        content: str | None = None,
        tags: Iterable[str] | None = None,
        metadata: Mapping[str, Any] | None = None,
        compress: bool = True,
    ) -> Memory:
        self.pg.check_open()
        check_id(memory_id)
        new_tags = check_tags(tags) if tags is not None else None
        new_meta = check_metadata(metadata) if metadata is not None else None
        limit = self.settings.max_content_bytes
        text = check_content(content, limit) if content is not None else None
        async with self.pg.connection() as conn:
            row = await row_by_id(conn, memory_id)
        if row is None:
            raise MemoryNotFoundError(memory_id)
        old = row_to_memory(row)
        p = Pending(
            id=old.id,
            namespace=old.namespace,
            content=old.content,
            content_hash=old.content_hash,
            tags=new_tags if new_tags is not None else old.tags,
            metadata_json=new_meta or json.dumps(old.metadata, ensure_ascii=False),
            created_at=old.created_at,
            updated_at=now(),
            pk=int(row["pk"]),
        )
        vectors: VectorMap = {}
        changed = text is not None and sha256(text) != old.content_hash
        if changed and text is not None:
            p.content, p.content_hash = text, sha256(text)
            await self.pg_writer.prepare([p], compress)
            vectors = await self.pg_writer.embed([p])
        async with self.pg.transaction() as conn:
            await lock_namespaces(conn, [p.namespace])
            if await row_by_id(conn, memory_id) is None:
                raise MemoryNotFoundError(memory_id)
            if changed:
                clash = await fetchone(
                    conn,
                    "SELECT id FROM memories WHERE namespace = %s AND content_hash = %s "
                    "AND id <> %s",
                    (p.namespace, p.content_hash, p.id),
                )
                if clash:
                    raise MemoryConflictError(
                        f"memory {clash['id']} in namespace {p.namespace!r} already has this "
                        "content"
                    )
                await write_rows(conn, self.pg_vectors.model, [p], vectors)
            else:
                await set_labels(conn, int(row["pk"]), p.tags, p.metadata_json, p.updated_at)
            after = await row_by_id(conn, memory_id)
        assert after is not None
        return row_to_memory(after).model_copy(update={"notes": p.notes})

    async def delete(self, memory_id: str, *, actor: str | None = None) -> Memory:
        """Soft-delete one memory (restorable for ``soft_delete_days``) and return it."""
        self.pg.check_open()
        check_id(memory_id)
        days = self.settings.soft_delete_days
        async with self.pg.transaction() as conn:
            await live_row(await row_by_id(conn, memory_id, live=False), memory_id, days)
            stamp = now()
            cur = await conn.execute(
                f"UPDATE memories SET deleted_at = %s WHERE id = %s RETURNING {COLUMNS}",
                (stamp, memory_id),
            )
            row = await cur.fetchone()
            assert row is not None
            await conn.execute(
                "INSERT INTO memory_history (memory_id, action, changes, actor, at) "
                "VALUES (%s, 'delete', %s::jsonb, %s, %s)",
                (memory_id, json.dumps({"deleted_at": [None, stamp]}), actor, stamp),
            )
        return row_to_memory(row)

    async def delete_namespace(self, namespace: str) -> int:
        self.pg.check_open()
        check_namespace(namespace)
        async with self.pg.transaction() as conn:
            await lock_namespaces(conn, [namespace])
            cur = await conn.execute("DELETE FROM memories WHERE namespace = %s", (namespace,))
            count = cur.rowcount
        return int(count)

    async def import_records(self, records: Iterable[Mapping[str, Any]]) -> dict[str, int]:
        self.pg.check_open()
        settings = self.settings
        items = [
            record_to_pending(r, i, settings.max_content_bytes, settings.embed_source)
            for i, r in enumerate(records, start=1)
        ]
        by_id: dict[str, Pending] = {}
        for p in items:
            seen = by_id.setdefault(p.id, p)
            if seen.content_hash != p.content_hash or seen.namespace != p.namespace:
                raise MemoryConflictError(f"id {p.id} appears twice with different content")
        unique = list({p.key: p for p in reversed(by_id.values())}.values())[::-1]
        todo = await self._not_stored(unique)
        vectors = await self.pg_writer.embed(todo)
        async with self.pg.transaction() as conn:
            await lock_namespaces(conn, [p.namespace for p in todo])
            todo = await self._not_stored(todo, conn)
            await write_rows(conn, self.pg_vectors.model, todo, vectors)
        return {"created": len(todo), "existing": len(items) - len(todo)}

    async def _not_stored(self, items: builtins.list[Pending], conn: Any = None) -> Any:
        """Items whose id and content are both new; an id taken by other content conflicts."""
        if conn is None:
            async with self.pg.connection() as own:
                return await self._not_stored(items, own)
        cur = await conn.execute(
            f"SELECT {COLUMNS} FROM memories WHERE id = ANY(%s)", ([p.id for p in items],)
        )
        taken = {r["id"]: row_key(r) for r in await cur.fetchall()}
        for p in items:
            if p.id in taken and taken[p.id] != p.key:
                raise MemoryConflictError(f"id {p.id} is already used by a different memory")
        same = await existing_rows(conn, [p.key for p in items])
        return [p for p in items if p.id not in taken and p.key not in same]

    # -- reads ---------------------------------------------------------------------------------

    async def get(self, memory_id: str) -> Memory:
        self.pg.check_open()
        check_id(memory_id)
        async with self.pg.connection() as conn:
            row = await row_by_id(conn, memory_id, live=False)
        return row_to_memory(await live_row(row, memory_id, self.settings.soft_delete_days))

    async def list(
        self, namespace: str | None = "default", limit: int = 50, cursor: str | None = None
    ) -> MemoryPage:
        self.pg.check_open()
        if namespace is not None:
            check_namespace(namespace)
        if not isinstance(limit, int) or not 1 <= limit <= 1000:
            raise MemoryInputError(f"limit must be from 1 to 1000, got {limit!r}")
        after = 0
        if cursor is not None:
            if not isinstance(cursor, str) or not cursor.isdigit():
                raise MemoryInputError(f"invalid cursor {cursor!r}")
            after = int(cursor)
        visible, vis_params = pg_where(None, "m", namespace)
        sql = f"SELECT {COLUMNS} FROM memories m WHERE pk > %s AND {visible}"
        params: builtins.list[Any] = [after, *vis_params]
        if namespace is not None:
            sql += " AND namespace = %s"
            params.append(namespace)
        sql += " ORDER BY pk LIMIT %s"
        params.append(limit + 1)
        rows = await self.pg.fetchall(sql, params)
        more = len(rows) > limit
        rows = rows[:limit]
        return MemoryPage(
            items=[row_to_memory(r) for r in rows],
            next_cursor=str(rows[-1]["pk"]) if more and rows else None,
        )

    async def stats(self, namespace: str | None = None) -> StoreStats:
        self.pg.check_open()
        if namespace is not None:
            check_namespace(namespace)
        where, params = (
            ("WHERE namespace = %s AND deleted_at IS NULL", [namespace])
            if namespace
            else ("WHERE deleted_at IS NULL", [])
        )
        rows = await self.pg.fetchall(
            "SELECT namespace, count(*) AS n, COALESCE(sum(tokens_original), 0) AS orig, "
            f"COALESCE(sum(tokens_compressed), 0) AS comp FROM memories {where} "
            "GROUP BY namespace",
            params,
        )
        emb = await self.pg.fetchone(
            "SELECT count(*) AS n FROM (SELECT DISTINCT embed_hash, embed_model FROM memories) e"
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
            schema_version=SCHEMA_VERSION,
            db_path=self.pg.shown,
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
        return await run_search(
            self.pg, self.pg_vectors, self.settings, query, namespace, k, tags, max_tokens, mode
        )

    async def export(self, namespace: str | None = None) -> AsyncIterator[dict[str, Any]]:
        self.pg.check_open()
        cursor: str | None = None
        while True:
            page = await self.list(namespace, limit=500, cursor=cursor)
            for memory in page.items:
                yield memory.model_dump(exclude={"status", "notes"})
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    async def build_vector_index(self) -> None:
        """Build the HNSW index of this store's vector dimension now (benches, migrations)."""
        row = await self.pg.fetchone(
            "SELECT embed_dim FROM memories WHERE embed_model = %s LIMIT 1", (self.embed_model,)
        )
        if row is not None:
            await self.pg_vectors.build_hnsw(self.pg, int(row["embed_dim"]))


__all__ = ["PostgresMemoryStore"]
