"""The SQLite backend of ``MemoryStore``: one file (WAL), one writing connection and a few
reading ones, hybrid search over a cached vector matrix and FTS5.

Writes are serialised by ``Database.lock`` (a connection has one transaction at a time), while
compression and embedding, the slow parts, run in worker threads outside it; reads run on
reading connections and never wait for a write. Several processes may share a file: writes take
SQLite's write lock with ``BEGIN IMMEDIATE`` and wait up to ``busy_timeout_ms``; the vector
cache notices other processes' commits through ``PRAGMA data_version``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from compression_layer.memory import edits
from compression_layer.memory.backend import (
    NAMESPACES_SQL,
    Edit,
    Opening,
    Totals,
    check_keys,
    export_query,
    read_totals,
)
from compression_layer.memory.batch import WriterBackend
from compression_layer.memory.db import Database
from compression_layer.memory.filters import MemoryFilter, sqlite_where
from compression_layer.memory.history import entries
from compression_layer.memory.migrations import SCHEMA_VERSION
from compression_layer.memory.pending import Pending
from compression_layer.memory.rows import COLUMNS, PREFIXED, row_by_id, row_to_memory
from compression_layer.memory.search import SearchRequest, run_search
from compression_layer.memory.transfer import import_items
from compression_layer.memory.types import HistoryEntry, Memory, SearchHit
from compression_layer.memory.vectors import Vectors
from compression_layer.memory.writes import Writer


class SqliteBackend(WriterBackend):
    """``backend.Backend`` over a SQLite file; open with ``SqliteBackend.open``."""

    schema_version = SCHEMA_VERSION
    db: Database
    writer: Writer

    vectors: Vectors

    @classmethod
    async def open(cls, path: Path, opening: Opening) -> SqliteBackend:
        """Open (creating and migrating if needed) the database at ``path``."""
        db = await Database.open(path, opening.settings)
        vectors = Vectors(opening.embedder, opening.embed_model)
        return cls(db, vectors, Writer(db, vectors, opening.settings, opening.compressor))

    @property
    def path(self) -> Path:
        return self.db.path

    async def close(self) -> None:
        await self.db.close()

    # -- writes

    async def update(self, memory_id: str, edit: Edit, compress: bool, actor: str | None) -> Memory:
        return await edits.update(self.writer, memory_id, edit, compress, actor)

    async def delete(self, memory_id: str, actor: str | None) -> Memory:
        days = self.settings.soft_delete_days
        return await edits.delete(self.db, self.vectors, memory_id, days, actor)

    async def restore(self, memory_id: str, actor: str | None) -> Memory:
        return await edits.restore(self.db, self.vectors, memory_id, actor)

    async def delete_namespace(self, namespace: str, actor: str | None) -> int:
        return await edits.delete_namespace(self.db, self.vectors, namespace, actor)

    async def purge(self, cutoff: str, only_if_due: bool = False) -> int:
        return await edits.purge(self.db, self.vectors, cutoff, only_if_due)

    async def import_items(self, items: list[Pending]) -> int:
        return await import_items(self.writer, items)

    # -- reads

    async def memory(self, memory_id: str) -> Memory | None:
        async with self.db.reading() as reader:
            row = await row_by_id(reader, memory_id)
        return row_to_memory(row) if row is not None else None

    async def history(self, memory_id: str) -> list[HistoryEntry]:
        async with self.db.reading() as reader:
            return await entries(reader, memory_id)

    async def page(
        self, namespace: str | None, flt: MemoryFilter, after: int, limit: int
    ) -> list[tuple[int, Memory]]:
        where, where_params = sqlite_where(flt, "m", namespace)
        sql = f"SELECT {PREFIXED} FROM memories m WHERE m.pk > ? AND {where}"
        params: list[Any] = [after, *where_params]
        if namespace is not None:
            # With metadata conditions their pks drive the read, in pk order (``+``: not the
            # namespace's index, which would read every memory of the namespace, then sort).
            sql += " AND +m.namespace = ?" if flt.conditions else " AND m.namespace = ?"
            params.append(namespace)
        async with self.db.reading() as reader:
            rows = await reader.fetchall(sql + " ORDER BY m.pk LIMIT ?", [*params, limit])
        return [(int(r["pk"]), row_to_memory(r)) for r in rows]

    async def export_page(
        self, namespace: str | None, include_deleted: bool, after: int
    ) -> list[tuple[int, Memory]]:
        sql, params = export_query(COLUMNS, after, namespace, include_deleted, "?")
        async with self.db.reading() as reader:
            rows = await reader.fetchall(sql, params)
        return [(int(r["pk"]), row_to_memory(r)) for r in rows]

    async def namespaces(self) -> Sequence[Mapping[str, Any]]:
        async with self.db.reading() as reader:
            rows = await reader.fetchall(NAMESPACES_SQL)
        return [dict(r) for r in rows]

    async def scopes(self, namespace: str) -> Sequence[Mapping[str, Any]]:
        async with self.db.reading() as reader:
            rows = await reader.fetchall(
                "SELECT user_id, agent_id, run_id, COUNT(*) AS n FROM memories "
                "WHERE namespace = ? AND deleted_at IS NULL "
                "GROUP BY user_id, agent_id, run_id ORDER BY user_id, agent_id, run_id",
                (namespace,),
            )
        return [dict(r) for r in rows]

    async def totals(self, namespace: str | None, flt: MemoryFilter) -> Totals:
        async with self.db.reading() as reader:
            return await read_totals(
                reader, namespace, flt, "?", "SELECT COUNT(*) AS n FROM embeddings"
            )

    async def search(self, req: SearchRequest) -> list[SearchHit]:
        return await run_search(self.db, self.vectors, self.settings, req)

    async def check_keys(self, namespace: str | None, flt: MemoryFilter) -> None:
        async with self.db.reading() as reader:
            await check_keys(reader, namespace, flt, "?")
