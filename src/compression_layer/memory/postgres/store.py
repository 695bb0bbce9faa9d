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

from compression_layer.memory.edits import new_scope
from compression_layer.memory.errors import (
    MemoryConflictError,
    MemoryInputError,
    MemoryNotFoundError,
)
from compression_layer.memory.filters import MemoryFilter, scope_of
from compression_layer.memory.pending import Compressor, Pending, item_to_pending, now
from compression_layer.memory.postgres.db import PgDatabase, fetchall
from compression_layer.memory.postgres.edits import (
    PREFIXED,
    check_keys,
    clash,
    live_row,
    not_stored,
    purge,
    stored_vector,
)
from compression_layer.memory.postgres.filters import pg_where
from compression_layer.memory.postgres.rows import (
    COLUMNS,
    lock_namespaces,
    record,
    row_by_id,
    row_scope,
    row_to_memory,
    wait_for_writers,
    write_rows,
)
from compression_layer.memory.postgres.schema import SCHEMA_VERSION
from compression_layer.memory.postgres.search import run_search
from compression_layer.memory.postgres.vectors import PgVectors
from compression_layer.memory.postgres.writes import PgWriter, VectorMap
from compression_layer.memory.search import SearchMode
from compression_layer.memory.transfer import record_to_pending
from compression_layer.memory.types import (
    HistoryEntry,
    Memory,
    MemoryPage,
    NamespaceCount,
    ScopeCount,
    SearchHit,
    StoreStats,
)
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
            await purge(db, settings.soft_delete_days, only_if_due=True)
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
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
    ) -> Memory:
        """See ``MemoryStore.store``."""
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
        """See ``MemoryStore.store_many``."""
        self.pg.check_open()
        scope = scope_of(user_id, agent_id, run_id)
        limit = self.settings.max_content_bytes
        pending = [item_to_pending(item, namespace, tags, metadata, limit, scope) for item in items]
        return await self.pg_writer.store(pending, compress)

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
        """See ``MemoryStore.update``."""
        self.pg.check_open()
        days = self.settings.soft_delete_days
        check_id(memory_id)
        new_tags = check_tags(tags) if tags is not None else None
        new_meta = check_metadata(metadata) if metadata is not None else None
        limit = self.settings.max_content_bytes
        text = check_content(content, limit) if content is not None else None
        async with self.pg.connection() as conn:
            row = await live_row(await row_by_id(conn, memory_id, live=False), memory_id, days)
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
            scope=new_scope(row_scope(row), scope),
        )
        vectors: VectorMap = {}
        changed = text is not None and sha256(text) != old.content_hash
        if changed and text is not None:
            p.content, p.content_hash = text, sha256(text)
            await self.pg_writer.prepare([p], compress)
            vectors = await self.pg_writer.embed([p])
        async with self.pg.transaction() as conn:
            await lock_namespaces(conn, [p.namespace])
            row = await live_row(await row_by_id(conn, memory_id, live=False), memory_id, days)
            if changed or p.scope != row_scope(row):
                await clash(conn, p.namespace, p.scope, p.content_hash, p.id)
            if not changed:
                # Same content: its stored vector is kept (the row is rewritten as it is).
                vectors = {p.embed_hash or row["embed_hash"]: await stored_vector(conn, p.pk)}
                p.embed_hash = p.embed_hash or row["embed_hash"]
                for name in ("compressed", "engine", "adapter", "domain"):
                    setattr(p, name, row[name])
                p.tokens_original = row["tokens_original"]
                p.tokens_compressed = row["tokens_compressed"]
            await write_rows(conn, self.pg_vectors.model, [p], vectors, actor=actor)
            after = await row_by_id(conn, memory_id)
        assert after is not None
        return row_to_memory(after).model_copy(update={"notes": p.notes})

    async def delete(self, memory_id: str, *, actor: str | None = None) -> Memory:
        """See ``MemoryStore.delete`` (soft: restorable for ``soft_delete_days``)."""
        self.pg.check_open()
        check_id(memory_id)
        days = self.settings.soft_delete_days
        stamp = now()
        async with self.pg.transaction() as conn:
            row = await live_row(await row_by_id(conn, memory_id, live=False), memory_id, days)
            await conn.execute(
                "UPDATE memories SET deleted_at = %s WHERE pk = %s", (stamp, row["pk"])
            )
            change = {"deleted_at": {"old": None, "new": stamp}}
            await record(conn, [(memory_id, "delete", change, actor, stamp)])
        return row_to_memory(row).model_copy(update={"deleted_at": stamp})

    async def restore(self, memory_id: str, *, actor: str | None = None) -> Memory:
        """See ``MemoryStore.restore``."""
        self.pg.check_open()
        check_id(memory_id)
        stamp = now()
        async with self.pg.transaction() as conn:
            row = await row_by_id(conn, memory_id, live=False)
            if row is None:
                raise MemoryNotFoundError(memory_id)
            if row["deleted_at"] is None:
                raise MemoryInputError(f"memory {memory_id!r} is not deleted")
            await lock_namespaces(conn, [row["namespace"]])
            await clash(conn, row["namespace"], row_scope(row), row["content_hash"], memory_id)
            await conn.execute("UPDATE memories SET deleted_at = NULL WHERE pk = %s", (row["pk"],))
            change = {"deleted_at": {"old": row["deleted_at"], "new": None}}
            await record(conn, [(memory_id, "restore", change, actor, stamp)])
            after = await row_by_id(conn, memory_id)
        assert after is not None
        return row_to_memory(after)

    async def delete_namespace(self, namespace: str, *, actor: str | None = None) -> int:
        """See ``MemoryStore.delete_namespace`` (soft)."""
        self.pg.check_open()
        check_namespace(namespace)
        stamp = now()
        change = json.dumps({"deleted_at": {"new": stamp, "old": None}}, sort_keys=True)
        async with self.pg.transaction() as conn:
            await lock_namespaces(conn, [namespace])
            await conn.execute(
                "INSERT INTO memory_history (memory_id, action, changes, actor, at) "
                "SELECT id, 'delete', %s::jsonb, %s, %s FROM memories "
                "WHERE namespace = %s AND deleted_at IS NULL ORDER BY pk",
                (change, actor, stamp, namespace),
            )
            cur = await conn.execute(
                "UPDATE memories SET deleted_at = %s WHERE namespace = %s AND deleted_at IS NULL",
                (stamp, namespace),
            )
            count = cur.rowcount
        return int(count)

    async def purge(self, older_than_days: float | None = None) -> int:
        """See ``MemoryStore.purge``."""
        self.pg.check_open()
        days = self.settings.soft_delete_days if older_than_days is None else older_than_days
        return await purge(self.pg, days)

    async def history(self, memory_id: str) -> builtins.list[HistoryEntry]:
        """See ``MemoryStore.history``."""
        self.pg.check_open()
        check_id(memory_id)
        rows = await self.pg.fetchall(
            "SELECT seq, memory_id, action, changes, actor, at FROM memory_history "
            "WHERE memory_id = %s ORDER BY seq",
            (memory_id,),
        )
        if not rows:
            raise MemoryNotFoundError(memory_id)
        return [
            HistoryEntry(
                seq=int(r["seq"]),
                memory_id=r["memory_id"],
                action=r["action"],
                changes=dict(r["changes"]),
                actor=r["actor"],
                at=r["at"],
            )
            for r in rows
        ]

    async def import_records(self, records: Iterable[Mapping[str, Any]]) -> dict[str, int]:
        """See ``MemoryStore.import_records``."""
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
        live = [p for p in by_id.values() if p.deleted_at is None]
        unique = list({p.key: p for p in reversed(live)}.values())[::-1]
        unique += [p for p in by_id.values() if p.deleted_at is not None]
        async with self.pg.connection() as conn:
            todo = await not_stored(conn, unique)
        vectors = await self.pg_writer.embed(todo)
        async with self.pg.transaction() as conn:
            await lock_namespaces(conn, [p.namespace for p in todo])
            todo = await not_stored(conn, todo)
            await write_rows(conn, self.pg_vectors.model, todo, vectors, action="import")
        return {"created": len(todo), "existing": len(items) - len(todo)}

    # -- reads ---------------------------------------------------------------------------------

    async def get(self, memory_id: str, *, include_deleted: bool = False) -> Memory:
        """See ``MemoryStore.get``."""
        self.pg.check_open()
        check_id(memory_id)
        async with self.pg.connection() as conn:
            row = await row_by_id(conn, memory_id, live=False)
        if include_deleted and row is not None:
            return row_to_memory(row)
        return row_to_memory(await live_row(row, memory_id, self.settings.soft_delete_days))

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
        """See ``MemoryStore.list``."""
        self.pg.check_open()
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
        visible, vis_params = pg_where(flt, "m", namespace)
        sql = f"SELECT {PREFIXED} FROM memories m WHERE m.pk > %s AND {visible}"
        params: builtins.list[Any] = [after, *vis_params]
        if namespace is not None:
            sql += " AND m.namespace = %s"
            params.append(namespace)
        sql += " ORDER BY m.pk LIMIT %s"
        params.append(limit + 1)
        # One namespace's writers are serialised, so its pks commit in order; across
        # namespaces the page waits for writes in flight (rows.wait_for_writers).
        async with self.pg.transaction() as conn:
            if namespace is None:
                await wait_for_writers(conn)
            rows = await fetchall(conn, sql, params)
            if not rows and flt.conditions:
                await check_keys(conn, namespace, flt)
        more = len(rows) > limit
        rows = rows[:limit]
        return MemoryPage(
            items=[row_to_memory(r) for r in rows],
            next_cursor=str(rows[-1]["pk"]) if more and rows else None,
        )

    async def list_namespaces(self) -> builtins.list[NamespaceCount]:
        """See ``MemoryStore.list_namespaces``."""
        self.pg.check_open()
        rows = await self.pg.fetchall(
            "SELECT namespace, count(*) AS n FROM memories WHERE deleted_at IS NULL "
            "GROUP BY namespace ORDER BY namespace"
        )
        return [NamespaceCount(namespace=r["namespace"], memories=int(r["n"])) for r in rows]

    async def list_scopes(self, namespace: str = "default") -> builtins.list[ScopeCount]:
        """See ``MemoryStore.list_scopes``."""
        self.pg.check_open()
        check_namespace(namespace)
        rows = await self.pg.fetchall(
            "SELECT user_id, agent_id, run_id, count(*) AS n FROM memories "
            "WHERE namespace = %s AND deleted_at IS NULL GROUP BY user_id, agent_id, run_id "
            "ORDER BY user_id NULLS FIRST, agent_id NULLS FIRST, run_id NULLS FIRST",
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
        """See ``MemoryStore.stats``."""
        self.pg.check_open()
        if namespace is not None:
            check_namespace(namespace)
        flt = MemoryFilter.of(user_id=user_id, agent_id=agent_id, run_id=run_id, all_scopes=True)
        where, params = pg_where(flt, "m")
        if namespace is not None:
            where += " AND m.namespace = %s"
            params.append(namespace)
        rows = await self.pg.fetchall(
            "SELECT m.namespace, count(*) AS n, COALESCE(sum(m.tokens_original), 0) AS orig, "
            f"COALESCE(sum(m.tokens_compressed), 0) AS comp FROM memories m WHERE {where} "
            "GROUP BY m.namespace",
            params,
        )
        emb = await self.pg.fetchone(
            "SELECT count(*) AS n FROM (SELECT DISTINCT embed_hash, embed_model FROM memories) e"
        )
        gone = await self.pg.fetchone(
            "SELECT count(*) AS n FROM memories m WHERE m.deleted_at IS NOT NULL"
            + (" AND m.namespace = %s" if namespace is not None else ""),
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
        min_score: float | None = None,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        filters: Mapping[str, Any] | None = None,
        all_scopes: bool = False,
    ) -> builtins.list[SearchHit]:
        """See ``MemoryStore.search``."""
        self.pg.check_open()
        flt = MemoryFilter.of(
            user_id=user_id,
            agent_id=agent_id,
            run_id=run_id,
            metadata=filters,
            all_scopes=all_scopes,
        )
        hits = await run_search(
            self.pg,
            self.pg_vectors,
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
            async with self.pg.connection() as conn:
                await check_keys(conn, namespace, flt)
        return hits

    async def export(
        self, namespace: str | None = None, *, include_deleted: bool = True
    ) -> AsyncIterator[dict[str, Any]]:
        """See ``MemoryStore.export``."""
        self.pg.check_open()
        if namespace is not None:
            check_namespace(namespace)
        after = 0
        while True:
            sql = f"SELECT {COLUMNS} FROM memories WHERE pk > %s"
            params: builtins.list[Any] = [after]
            if namespace is not None:
                sql += " AND namespace = %s"
                params.append(namespace)
            if not include_deleted:
                sql += " AND deleted_at IS NULL"
            async with self.pg.transaction() as conn:
                if namespace is None:  # as list: no page past a pk still to commit
                    await wait_for_writers(conn)
                rows = await fetchall(conn, sql + " ORDER BY pk LIMIT 500", params)
            for row in rows:
                yield row_to_memory(row).model_dump(exclude={"status", "notes"})
            if len(rows) < 500:
                return
            after = int(rows[-1]["pk"])

    async def build_vector_index(self) -> None:
        """Build the HNSW index of this store's vector dimension now (benches, migrations)."""
        row = await self.pg.fetchone(
            "SELECT embed_dim FROM memories WHERE embed_model = %s LIMIT 1", (self.embed_model,)
        )
        if row is not None:
            await self.pg_vectors.build_hnsw(self.pg, int(row["embed_dim"]))


__all__ = ["PostgresMemoryStore"]
