"""What ``MemoryStore`` asks of a database: the backend protocol, and the steps both backends
take the same way.

``MemoryStore`` (``store.py``) checks what callers give, builds filters and shapes results; a
backend (``sqlite_backend.SqliteBackend``, ``postgres.backend.PgBackend``) runs the statements. A
backend receives checked values only: ids, namespaces, tags, metadata and filters have been
validated by the facade, and an update's content, tags and metadata come as an ``Edit``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np
import numpy.typing as npt

from compression_layer.memory.errors import (
    MemoryConflictError,
    MemoryDeletedError,
    MemoryInputError,
    MemoryNotFoundError,
)
from compression_layer.memory.filters import SCOPE_FIELDS, MemoryFilter, Scope, scope_of, where_sql
from compression_layer.memory.pending import Compressor, Pending, now
from compression_layer.memory.search import SearchRequest
from compression_layer.memory.sql import Fetcher, RowLike
from compression_layer.memory.types import HistoryEntry, Memory, SearchHit
from compression_layer.memory.validate import sha256
from compression_layer.memory.vectors import Embedder
from compression_layer.settings import MemorySettings

VectorMap = dict[str, npt.NDArray[np.float32]]
"""Vectors by embed hash."""
PAGE = 500
"""Rows per export page."""


R = TypeVar("R", bound=RowLike)


@dataclass(frozen=True)
class Edit:
    """A checked ``update``: new content, tags, metadata JSON (None: keep) and scope changes."""

    text: str | None
    tags: list[str] | None
    metadata_json: str | None
    scope: Mapping[str, object] | None


@dataclass(frozen=True)
class Totals:
    """What ``stats`` counts: per namespace (memories, tokens original, tokens compressed),
    the stored vectors and the deleted memories."""

    namespaces: dict[str, tuple[int, int, int]]
    embeddings: int
    deleted: int


@dataclass(frozen=True)
class Opening:
    """What a backend is opened with besides its location."""

    settings: MemorySettings
    compressor: Compressor
    embedder: Embedder
    embed_model: str


class Backend(Protocol):
    """One database behind ``MemoryStore``: open until ``close``, every call on checked input."""

    settings: MemorySettings

    @property
    def embed_model(self) -> str:
        """The name of the embedder's vector space."""
        ...

    @property
    def path(self) -> Path | str:
        """What ``MemoryStore.path`` and ``stats().db_path`` show (a URL with its password
        masked)."""
        ...

    @property
    def schema_version(self) -> int: ...

    def check_open(self) -> None:
        """MemoryStoreError once closed."""

    async def close(self) -> None: ...

    # -- writes

    async def store(self, pending: list[Pending], compress: bool) -> list[Memory]:
        """``store_many`` of validated items."""
        ...

    async def update(
        self, memory_id: str, edit: Edit, compress: bool, actor: str | None
    ) -> Memory: ...

    async def delete(self, memory_id: str, actor: str | None) -> Memory: ...

    async def restore(self, memory_id: str, actor: str | None) -> Memory: ...

    async def delete_namespace(self, namespace: str, actor: str | None) -> int: ...

    async def purge(self, cutoff: str, only_if_due: bool = False) -> int:
        """Remove the memories deleted at or before ``cutoff``; how many."""
        ...

    async def import_items(self, items: list[Pending]) -> int:
        """Write the records of an import (``import_plan``) not stored yet; how many were
        created (or brought back)."""
        ...

    # -- reads

    async def memory(self, memory_id: str) -> Memory | None:
        """The memory with this id, deleted or not."""
        ...

    async def history(self, memory_id: str) -> list[HistoryEntry]: ...

    async def page(
        self, namespace: str | None, flt: MemoryFilter, after: int, limit: int
    ) -> list[tuple[int, Memory]]:
        """Up to ``limit`` live memories ``flt`` sees past pk ``after``, in pk order."""
        ...

    async def export_page(
        self, namespace: str | None, include_deleted: bool, after: int
    ) -> list[tuple[int, Memory]]:
        """Up to ``PAGE`` memories past pk ``after``, in pk order, every scope."""
        ...

    async def namespaces(self) -> Sequence[Mapping[str, Any]]:
        """Rows (namespace, n) of the namespaces with live memories, by name."""
        ...

    async def scopes(self, namespace: str) -> Sequence[Mapping[str, Any]]:
        """Rows (user_id, agent_id, run_id, n) of the namespace's live scopes, Nones first."""
        ...

    async def totals(self, namespace: str | None, flt: MemoryFilter) -> Totals: ...

    async def search(self, req: SearchRequest) -> list[SearchHit]: ...

    async def check_keys(self, namespace: str | None, flt: MemoryFilter) -> None:
        """MemoryInputError when ``flt`` names a metadata key no memory there has."""


class Preparer(Protocol):
    """A backend's writer: compresses and embeds items before their transaction."""

    async def prepare(self, items: Sequence[Pending], compress: bool) -> None: ...

    async def embed(self, items: Sequence[Pending]) -> VectorMap: ...


# -- the steps both backends take alike ---------------------------------------------------------


def restorable_until(deleted_at: str, days: float) -> str | None:
    """When a memory deleted at ``deleted_at`` is purged; None when the time is unreadable."""
    try:
        when = datetime.fromisoformat(deleted_at)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return (when + timedelta(days=days)).isoformat(timespec="seconds")


def live_row(row: R | None, memory_id: str, days: float) -> R:
    """``row`` when it is a live memory; MemoryNotFoundError / MemoryDeletedError otherwise."""
    if row is None:
        raise MemoryNotFoundError(memory_id)
    if row["deleted_at"] is not None:
        raise deleted_error(memory_id, row["deleted_at"], days)
    return row


def deleted_error(memory_id: str, deleted_at: object, days: float) -> MemoryDeletedError:
    """The error of a read or change of a deleted memory: when, and until when restorable."""
    deleted = str(deleted_at)
    return MemoryDeletedError(memory_id, deleted, restorable_until(deleted, days))


def new_scope(old: Scope, changes: Mapping[str, object] | None) -> Scope:
    """``old`` with the parts named in ``changes`` replaced (None clears a part)."""
    if not changes:
        return old
    unknown = sorted(set(changes) - set(SCOPE_FIELDS))
    if unknown:
        raise MemoryInputError(f"unknown scope fields: {', '.join(unknown)}")
    parts = [changes.get(name, value) for name, value in zip(SCOPE_FIELDS, old, strict=True)]
    return scope_of(*parts)


async def plan_update(
    writer: Preparer, old: Memory, pk: int, edit: Edit, compress: bool
) -> tuple[Pending, bool, VectorMap]:
    """The memory ``old`` (row ``pk``) as ``edit`` leaves it, whether its content changed, and
    the new content's vectors (compressed and embedded here, before the transaction)."""
    p = Pending(
        id=old.id,
        namespace=old.namespace,
        content=old.content,
        content_hash=old.content_hash,
        tags=edit.tags if edit.tags is not None else old.tags,
        metadata_json=edit.metadata_json or json.dumps(old.metadata, ensure_ascii=False),
        created_at=old.created_at,
        updated_at=now(),
        pk=pk,
        scope=new_scope((old.user_id, old.agent_id, old.run_id), edit.scope),
    )
    vectors: VectorMap = {}
    changed = edit.text is not None and sha256(edit.text) != old.content_hash
    if changed and edit.text is not None:
        p.content, p.content_hash = edit.text, sha256(edit.text)
        await writer.prepare([p], compress)
        vectors = await writer.embed([p])
    return p, changed, vectors


def purge_cutoff(older_than_days: object) -> str:
    """The deletion time at or before which ``purge`` removes memories."""
    ok = isinstance(older_than_days, int | float) and not isinstance(older_than_days, bool)
    if not ok or not 0 <= older_than_days < 1e6:  # type: ignore[operator]
        raise MemoryInputError(f"older_than_days must be a number >= 0, got {older_than_days!r}")
    days = float(older_than_days)  # type: ignore[arg-type]
    return (datetime.now(UTC) - timedelta(days=days)).isoformat(timespec="microseconds")


def import_plan(items: list[Pending]) -> list[Pending]:
    """The records of an import to write: one per id (an id given twice with other content is
    a conflict), and of live records with one content in one scope only the first (deleted
    memories hold no content slot; restore checks for a clash)."""
    by_id: dict[str, Pending] = {}
    for p in items:
        seen = by_id.setdefault(p.id, p)
        if seen.content_hash != p.content_hash or seen.namespace != p.namespace:
            raise MemoryConflictError(f"id {p.id} appears twice with different content")
    live = [p for p in by_id.values() if p.deleted_at is None]
    unique = list({p.key: p for p in reversed(live)}.values())[::-1]
    return unique + [p for p in by_id.values() if p.deleted_at is not None]


async def check_keys(db: Fetcher, namespace: str | None, flt: MemoryFilter, ph: str) -> None:
    """MemoryInputError when a condition of ``flt`` names a metadata key that no memory of
    ``namespace`` (None: of the store) has, listing the keys there are. ``ph``: the driver's
    placeholder."""
    ns_sql, ns_params = (
        (f"namespace = {ph} AND ", [namespace]) if namespace is not None else ("", [])
    )
    missing = []
    for key in dict.fromkeys(c.key for c in flt.conditions):
        found = await db.fetchone(
            f"SELECT 1 FROM memory_meta WHERE {ns_sql}key = {ph} LIMIT 1", [*ns_params, key]
        )
        if found is None:
            missing.append(key)
    if not missing:
        return
    where_ns = f" WHERE {ns_sql.removesuffix(' AND ')}" if ns_sql else ""
    rows = await db.fetchall(
        f"SELECT DISTINCT key FROM memory_meta{where_ns} ORDER BY key LIMIT 31", ns_params
    )
    keys = [str(r["key"]) for r in rows]
    known = ", ".join(keys[:30]) + (", ..." if len(keys) > 30 else "") if keys else "none"
    where = f"namespace {namespace!r}" if namespace is not None else "the store"
    names = ", ".join(repr(k) for k in missing)
    raise MemoryInputError(
        f"no memory in {where} has the metadata key {names}; keys there: {known}"
    )


NAMESPACES_SQL = (
    "SELECT namespace, COUNT(*) AS n FROM memories WHERE deleted_at IS NULL "
    "GROUP BY namespace ORDER BY namespace"
)
"""``Backend.namespaces`` in either dialect."""


async def read_totals(
    db: Fetcher, namespace: str | None, flt: MemoryFilter, ph: str, embeddings_sql: str
) -> Totals:
    """``Backend.totals`` on ``db`` (one connection: one snapshot where the driver gives one);
    ``embeddings_sql`` counts the stored vectors as ``n``, which each backend keeps its way."""
    where, params = where_sql(flt, "m", None, ph)
    if namespace is not None:
        where += f" AND m.namespace = {ph}"
        params.append(namespace)
    rows = await db.fetchall(
        "SELECT m.namespace, COUNT(*) AS n, COALESCE(SUM(m.tokens_original), 0) AS orig, "
        f"COALESCE(SUM(m.tokens_compressed), 0) AS comp FROM memories m WHERE {where} "
        "GROUP BY m.namespace",
        params,
    )
    emb = await db.fetchone(embeddings_sql, [])
    gone = await db.fetchone(
        "SELECT COUNT(*) AS n FROM memories m WHERE m.deleted_at IS NOT NULL"
        + (f" AND m.namespace = {ph}" if namespace is not None else ""),
        [namespace] if namespace is not None else [],
    )
    return Totals(
        namespaces={str(r["namespace"]): (r["n"], r["orig"], r["comp"]) for r in rows},
        embeddings=int(emb["n"]) if emb else 0,
        deleted=int(gone["n"]) if gone else 0,
    )


def export_query(
    columns: str, after: int, namespace: str | None, include_deleted: bool, ph: str
) -> tuple[str, list[Any]]:
    """``Backend.export_page``'s statement (``columns`` of ``memories``) and parameters."""
    sql = f"SELECT {columns} FROM memories WHERE pk > {ph}"
    params: list[Any] = [after]
    if namespace is not None:
        sql += f" AND namespace = {ph}"
        params.append(namespace)
    if not include_deleted:
        sql += " AND deleted_at IS NULL"
    return sql + f" ORDER BY pk LIMIT {PAGE}", params
