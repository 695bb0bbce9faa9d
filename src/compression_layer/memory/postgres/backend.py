"""The Postgres + pgvector backend of ``MemoryStore`` (``memory.db_url: postgresql://...``).

``MemoryStore.open`` opens it when the URL (or the path given) is a ``postgresql://`` URL; the
facade, its checks and its answers are the same for both backends
(``tests/memory/test_backends.py`` runs one suite against both). Many processes may share one
database: writes to a namespace are serialised by an advisory lock, reads never wait.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

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
from compression_layer.memory.filters import MemoryFilter
from compression_layer.memory.history import entries
from compression_layer.memory.pending import Pending
from compression_layer.memory.postgres import edits
from compression_layer.memory.postgres.db import PgDatabase, fetchall
from compression_layer.memory.postgres.filters import PH, pg_where
from compression_layer.memory.postgres.rows import (
    COLUMNS,
    row_by_id,
    wait_for_writers,
)
from compression_layer.memory.postgres.schema import SCHEMA_VERSION
from compression_layer.memory.postgres.search import run_search
from compression_layer.memory.postgres.vectors import PgVectors
from compression_layer.memory.postgres.writes import PgWriter
from compression_layer.memory.rows import row_to_memory
from compression_layer.memory.search import SearchRequest
from compression_layer.memory.types import HistoryEntry, Memory, SearchHit


class PgBackend(WriterBackend):
    """``backend.Backend`` over a Postgres database; open with ``PgBackend.open``."""

    schema_version = SCHEMA_VERSION
    db: PgDatabase
    writer: PgWriter

    vectors: PgVectors

    @classmethod
    async def open(cls, url: str, opening: Opening) -> PgBackend:
        """Connect (migrating if needed); MemoryUnavailableError names the URL, password
        masked, when the server cannot be reached."""
        db = await PgDatabase.open(url, opening.settings.busy_timeout_ms / 1000)
        vectors = PgVectors(opening.embedder, opening.embed_model)
        return cls(db, vectors, PgWriter(db, vectors, opening.settings, opening.compressor))

    @property
    def path(self) -> str:
        return self.db.shown

    async def close(self) -> None:
        try:
            await self.vectors.close()
        finally:
            await self.db.close()

    async def build_vector_index(self) -> None:
        """Build the HNSW index of this store's vector dimension now (benches, migrations)."""
        row = await self.db.fetchone(
            "SELECT embed_dim FROM memories WHERE embed_model = %s LIMIT 1", (self.embed_model,)
        )
        if row is not None:
            await self.vectors.build_hnsw(self.db, int(row["embed_dim"]))

    # -- writes

    async def update(self, memory_id: str, edit: Edit, compress: bool, actor: str | None) -> Memory:
        return await edits.update(self.writer, memory_id, edit, compress, actor)

    async def delete(self, memory_id: str, actor: str | None) -> Memory:
        return await edits.delete(self.db, memory_id, self.settings.soft_delete_days, actor)

    async def restore(self, memory_id: str, actor: str | None) -> Memory:
        return await edits.restore(self.db, memory_id, actor)

    async def delete_namespace(self, namespace: str, actor: str | None) -> int:
        return await edits.delete_namespace(self.db, namespace, actor)

    async def purge(self, cutoff: str, only_if_due: bool = False) -> int:
        return await edits.purge(self.db, cutoff, only_if_due)

    async def import_items(self, items: list[Pending]) -> int:
        return await edits.import_items(self.writer, items)

    # -- reads

    async def memory(self, memory_id: str) -> Memory | None:
        async with self.db.connection() as conn:
            row = await row_by_id(conn, memory_id, live=False)
        return row_to_memory(row) if row is not None else None

    async def history(self, memory_id: str) -> list[HistoryEntry]:
        return await entries(self.db, memory_id, PH)

    async def page(
        self, namespace: str | None, flt: MemoryFilter, after: int, limit: int
    ) -> list[tuple[int, Memory]]:
        visible, vis_params = pg_where(flt, "m", namespace)
        sql = f"SELECT {edits.PREFIXED} FROM memories m WHERE m.pk > %s AND {visible}"
        params: list[Any] = [after, *vis_params]
        if namespace is not None:
            sql += " AND m.namespace = %s"
            params.append(namespace)
        # One namespace's writers are serialised, so its pks commit in order; across
        # namespaces the page waits for writes in flight (rows.wait_for_writers).
        async with self.db.transaction() as conn:
            if namespace is None:
                await wait_for_writers(conn)
            rows = await fetchall(conn, sql + " ORDER BY m.pk LIMIT %s", [*params, limit])
        return [(int(r["pk"]), row_to_memory(r)) for r in rows]

    async def export_page(
        self, namespace: str | None, include_deleted: bool, after: int
    ) -> list[tuple[int, Memory]]:
        sql, params = export_query(COLUMNS, after, namespace, include_deleted, PH)
        async with self.db.transaction() as conn:
            if namespace is None:  # as page: no page past a pk still to commit
                await wait_for_writers(conn)
            rows = await fetchall(conn, sql, params)
        return [(int(r["pk"]), row_to_memory(r)) for r in rows]

    async def namespaces(self) -> Sequence[Mapping[str, Any]]:
        return await self.db.fetchall(NAMESPACES_SQL)

    async def scopes(self, namespace: str) -> Sequence[Mapping[str, Any]]:
        return await self.db.fetchall(
            "SELECT user_id, agent_id, run_id, count(*) AS n FROM memories "
            "WHERE namespace = %s AND deleted_at IS NULL GROUP BY user_id, agent_id, run_id "
            "ORDER BY user_id NULLS FIRST, agent_id NULLS FIRST, run_id NULLS FIRST",
            (namespace,),
        )

    async def totals(self, namespace: str | None, flt: MemoryFilter) -> Totals:
        # Vectors are columns of the rows here: one per distinct (text hash, model).
        vectors = (
            "SELECT COUNT(*) AS n FROM (SELECT DISTINCT embed_hash, embed_model FROM memories) e"
        )
        return await read_totals(self.db, namespace, flt, PH, vectors)

    async def search(self, req: SearchRequest) -> list[SearchHit]:
        return await run_search(self.db, self.vectors, self.settings, req)

    async def check_keys(self, namespace: str | None, flt: MemoryFilter) -> None:
        await check_keys(self.db, namespace, flt, PH)
