"""The agent memory store: one facade, ``MemoryStore``, over a SQLite or a Postgres backend.

``MemoryStore`` checks what callers give (ids, namespaces, limits, cursors, filters), hands the
checked values to its backend (``backend.Backend``: ``sqlite_backend.SqliteBackend`` for a file,
``postgres.backend.PgBackend`` for a ``postgresql://`` URL) and shapes the answers, so both
backends take the same input and give the same results and errors. Its async methods are safe
to call concurrently from one event loop; each backend's module says how it keeps writers apart
and lets reads run beside them.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from compression_layer.memory.backend import (
    PAGE,
    Backend,
    Edit,
    Opening,
    deleted_error,
    import_plan,
    purge_cutoff,
)
from compression_layer.memory.compressing import DefaultCompressor
from compression_layer.memory.errors import MemoryInputError, MemoryNotFoundError
from compression_layer.memory.filters import MemoryFilter, scope_of
from compression_layer.memory.pending import Compressor, item_to_pending
from compression_layer.memory.postgres.urls import is_postgres_url
from compression_layer.memory.search import SearchMode, search_request
from compression_layer.memory.sqlite_backend import SqliteBackend
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
)
from compression_layer.memory.vectors import Embedder
from compression_layer.settings import MemorySettings, data_dir, load_area

if TYPE_CHECKING:
    from compression_layer.memory.postgres.backend import PgBackend
    from compression_layer.memory.postgres.db import PgDatabase
    from compression_layer.memory.postgres.vectors import PgVectors

__all__ = [
    "DEFAULT_EMBED_MODEL",
    "Embedder",
    "MemoryStore",
    "PostgresMemoryStore",
    "SearchMode",
    "default_db_path",
]

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

    A facade over one backend (``backend``): the checks of every call, the filters and the
    shape of results are here, once; the statements are the backend's.
    """

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    @property
    def path(self) -> Path | str:
        """The database file, or a Postgres URL with its password masked."""
        return self.backend.path

    @property
    def embed_model(self) -> str:
        """The name of the embedder's vector space (vectors are cached per model)."""
        return self.backend.embed_model

    @property
    def settings(self) -> MemorySettings:
        """The memory settings in force; assigning new ones applies to the next call."""
        return self.backend.settings

    @settings.setter
    def settings(self, value: MemorySettings) -> None:
        self.backend.settings = value

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

        ``path`` is a file, or a ``postgresql://`` URL (default: ``memory.db_url`` when set,
        else ``default_db_path``). ``compressor`` defaults to ``compression_layer.compress``
        and ``embedder`` to the packaged MiniLM; inject fast fakes in tests. ``embed_model``
        names the embedder's vector space (vectors are cached per model); it defaults to the
        embedder's ``model_name`` attribute.
        """
        settings = settings or load_area(MemorySettings)
        url = str(path) if is_postgres_url(path) else None if path else settings.db_url
        if embedder is None:
            model = embed_model or DEFAULT_EMBED_MODEL
        elif hasattr(embedder, "encode"):
            # A sentence-transformers model (e.g. load_embedder()): wrap it as the callable the
            # store expects. It is taken to be the packaged MiniLM unless embed_model says not.
            embedder = _encoder_callable(embedder)
            model = embed_model or DEFAULT_EMBED_MODEL
        else:
            model = embed_model or str(getattr(embedder, "model_name", "") or "custom")
        parts = Opening(
            settings, compressor or _default_compressor, embedder or _default_embedder, model
        )
        store: MemoryStore
        if url:  # Postgres + pgvector (memory.db_url), see memory/postgres
            from compression_layer.memory.postgres.backend import PgBackend

            store = PostgresMemoryStore(await PgBackend.open(url, parts))
        else:
            file = Path(path).expanduser() if path else default_db_path(settings)
            file.parent.mkdir(parents=True, exist_ok=True)
            store = cls(await SqliteBackend.open(file, parts))
        try:
            await store.backend.purge(purge_cutoff(settings.soft_delete_days), only_if_due=True)
            yield store
        finally:
            await store.backend.close()

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
        self.backend.check_open()
        scope = scope_of(user_id, agent_id, run_id)
        limit = self.settings.max_content_bytes
        pending = [item_to_pending(item, namespace, tags, metadata, limit, scope) for item in items]
        return await self.backend.store(pending, compress)

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
        self.backend.check_open()
        check_id(memory_id)
        edit = Edit(
            tags=check_tags(tags) if tags is not None else None,
            metadata_json=check_metadata(metadata) if metadata is not None else None,
            text=check_content(content, self.settings.max_content_bytes)
            if content is not None
            else None,
            scope=scope,
        )
        return await self.backend.update(memory_id, edit, compress, actor)

    async def delete(self, memory_id: str, *, actor: str | None = None) -> Memory:
        """Delete one memory (soft: restorable for ``soft_delete_days``, then purged) and return
        it with ``deleted_at`` set; MemoryNotFoundError when the id is unknown or already
        deleted."""
        self.backend.check_open()
        check_id(memory_id)
        return await self.backend.delete(memory_id, actor)

    async def restore(self, memory_id: str, *, actor: str | None = None) -> Memory:
        """Bring a deleted (not yet purged) memory back as it was. MemoryConflictError when its
        content was stored again in its scope meanwhile."""
        self.backend.check_open()
        check_id(memory_id)
        return await self.backend.restore(memory_id, actor)

    async def delete_namespace(self, namespace: str, *, actor: str | None = None) -> int:
        """Delete (soft) every live memory of ``namespace``; returns how many there were."""
        self.backend.check_open()
        check_namespace(namespace)
        return await self.backend.delete_namespace(namespace, actor)

    async def purge(self, older_than_days: float | None = None) -> int:
        """Remove for good the memories deleted more than ``older_than_days`` ago (default: the
        ``soft_delete_days`` setting; 0: every deleted one); returns how many."""
        self.backend.check_open()
        days = self.settings.soft_delete_days if older_than_days is None else older_than_days
        return await self.backend.purge(purge_cutoff(days))

    async def history(self, memory_id: str) -> builtins.list[HistoryEntry]:
        """Every change of a memory, oldest first (deleted memories too, until purged)."""
        self.backend.check_open()
        check_id(memory_id)
        found = await self.backend.history(memory_id)
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
        self.backend.check_open()
        settings = self.settings
        items = [
            record_to_pending(r, i, settings.max_content_bytes, settings.embed_source)
            for i, r in enumerate(records, start=1)
        ]
        created = await self.backend.import_items(import_plan(items))
        return {"created": created, "existing": len(items) - created}

    # -- reads ---------------------------------------------------------------------------------

    async def get(self, memory_id: str, *, include_deleted: bool = False) -> Memory:
        """The memory with this id; MemoryNotFoundError when there is none, MemoryDeletedError
        (saying when it was deleted and until when it can be restored) when it is deleted,
        unless ``include_deleted``."""
        self.backend.check_open()
        check_id(memory_id)
        memory = await self.backend.memory(memory_id)
        if memory is None:
            raise MemoryNotFoundError(memory_id)
        if memory.deleted_at is not None and not include_deleted:
            raise deleted_error(memory_id, memory.deleted_at, self.settings.soft_delete_days)
        return memory

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
        self.backend.check_open()
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
        rows = await self.backend.page(namespace, flt, after, limit + 1)
        if not rows and flt.conditions:
            await self.backend.check_keys(namespace, flt)
        more = len(rows) > limit
        rows = rows[:limit]
        return MemoryPage(
            items=[memory for _, memory in rows],
            next_cursor=str(rows[-1][0]) if more and rows else None,
        )

    async def list_namespaces(self) -> builtins.list[NamespaceCount]:
        """Every namespace with live memories, and how many each holds."""
        self.backend.check_open()
        rows = await self.backend.namespaces()
        return [NamespaceCount(namespace=r["namespace"], memories=int(r["n"])) for r in rows]

    async def list_scopes(self, namespace: str = "default") -> builtins.list[ScopeCount]:
        """The scopes of ``namespace`` that hold live memories (the unscoped ones as a scope of
        three Nones), with counts."""
        self.backend.check_open()
        check_namespace(namespace)
        rows = await self.backend.scopes(namespace)
        return [
            ScopeCount(
                user_id=r["user_id"],
                agent_id=r["agent_id"],
                run_id=r["run_id"],
                memories=int(r["n"]),
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
        self.backend.check_open()
        if namespace is not None:
            check_namespace(namespace)
        flt = MemoryFilter.of(user_id=user_id, agent_id=agent_id, run_id=run_id, all_scopes=True)
        totals = await self.backend.totals(namespace, flt)
        counts = {ns: tuple(int(v) for v in row) for ns, row in totals.namespaces.items()}
        orig = sum(c[1] for c in counts.values())
        comp = sum(c[2] for c in counts.values())
        return StoreStats(
            memories=sum(c[0] for c in counts.values()),
            namespaces={ns: c[0] for ns, c in counts.items()},
            tokens_original=orig,
            tokens_compressed=comp,
            tokens_saved=orig - comp,
            embeddings=totals.embeddings,
            deleted=totals.deleted,
            schema_version=self.backend.schema_version,
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
        self.backend.check_open()
        flt = MemoryFilter.of(
            user_id=user_id,
            agent_id=agent_id,
            run_id=run_id,
            metadata=filters,
            all_scopes=all_scopes,
        )
        req = search_request(query, namespace, k, tags, max_tokens, mode, min_score, flt)
        hits = await self.backend.search(req)
        if not hits and flt.conditions:
            await self.backend.check_keys(namespace, flt)
        return hits

    async def export(
        self, namespace: str | None = None, *, include_deleted: bool = True
    ) -> AsyncIterator[dict[str, Any]]:
        """Every memory (of ``namespace``, or all; every scope) as a plain dict, for lossless
        JSONL export. Deleted memories not purged yet come too, with their ``deleted_at``, so an
        import keeps them deleted (and restorable)."""
        self.backend.check_open()
        if namespace is not None:
            check_namespace(namespace)
        after = 0
        while True:
            rows = await self.backend.export_page(namespace, include_deleted, after)
            for _, memory in rows:
                yield memory.model_dump(exclude={"status", "notes"})
            if len(rows) < PAGE:
                return
            after = rows[-1][0]


class PostgresMemoryStore(MemoryStore):
    """What ``MemoryStore.open`` yields for a ``postgresql://`` URL: the same facade, with the
    Postgres backend's parts at hand for migrations and benches."""

    backend: PgBackend

    @property
    def pg(self) -> PgDatabase:
        """The connection pool."""
        return self.backend.db

    @property
    def pg_vectors(self) -> PgVectors:
        """The vectors (pgvector search, the HNSW index)."""
        return self.backend.vectors

    async def build_vector_index(self) -> None:
        """Build the HNSW index of this store's vector dimension now (benches, migrations)."""
        await self.backend.build_vector_index()
