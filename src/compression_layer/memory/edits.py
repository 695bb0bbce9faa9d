"""Changing and removing stored memories: update, soft delete, restore, purge.

Each is one transaction under the database lock, with its history entry; a new content is
compressed and embedded before it, outside the lock.

A delete is soft: the row gets ``deleted_at`` and leaves every read path (the FTS index through
its triggers, the tag index, the cached vectors, ``filters.sqlite_where``), but keeps its vector
so ``restore`` brings it back as it was. ``purge`` removes deleted rows for good once they are
older than ``soft_delete_days``.
"""

from __future__ import annotations

import json

from compression_layer.memory.backend import Edit, live_row, plan_update
from compression_layer.memory.db import Database
from compression_layer.memory.errors import (
    MemoryConflictError,
    MemoryInputError,
    MemoryNotFoundError,
)
from compression_layer.memory.filters import SCOPE_FIELDS, Scope
from compression_layer.memory.history import diff, record
from compression_layer.memory.pending import now
from compression_layer.memory.rows import (
    SAME_SCOPE_SQL,
    row_by_id,
    row_scope,
    row_state,
    row_to_memory,
    set_labels,
    write_rows,
)
from compression_layer.memory.types import Memory
from compression_layer.memory.vectors import Vectors
from compression_layer.memory.writes import Writer


async def _clash(db: Database, namespace: str, scope: Scope, content_hash: str, mid: str) -> None:
    """MemoryConflictError when another live memory of the scope has this content."""
    clash = await db.fetchone(
        f"SELECT id FROM memories WHERE {SAME_SCOPE_SQL} AND content_hash = ? AND id != ?",
        (namespace, *(p or "" for p in scope), content_hash, mid),
    )
    if clash:
        raise MemoryConflictError(
            f"memory {clash['id']} in namespace {namespace!r} (same scope) already has this content"
        )


async def update(
    writer: Writer, memory_id: str, edit: Edit, compress: bool, actor: str | None = None
) -> Memory:
    """See ``MemoryStore.update`` (input checked)."""
    db = writer.db
    days = writer.settings.soft_delete_days
    async with db.lock:
        row = live_row(await row_by_id(db, memory_id), memory_id, days)
    p, changed, vectors = await plan_update(
        writer, row_to_memory(row), int(row["pk"]), edit, compress
    )
    async with db.lock:
        async with writer.vectors.transaction(db):
            row = live_row(await row_by_id(db, memory_id), memory_id, days)
            if changed or p.scope != row_scope(row):
                await _clash(db, p.namespace, p.scope, p.content_hash, p.id)
            if changed:
                await write_rows(db, writer.vectors.model, [p], vectors, actor=actor)
            else:
                state = {
                    "tags": p.tags,
                    "metadata": json.loads(p.metadata_json),
                    **dict(zip(SCOPE_FIELDS, p.scope, strict=True)),
                }
                changes = diff(row_state(row), state)
                if changes:
                    await set_labels(db, int(row["pk"]), p.tags, p.metadata_json, p.updated_at)
                    await _set_scope(db, int(row["pk"]), p.scope)
                    await record(db, [(p.id, "update", changes, actor, p.updated_at)])
            after = await row_by_id(db, memory_id)
        if changed:
            writer.cache([p], vectors)
    assert after is not None  # read in the transaction that just found it
    return row_to_memory(after).model_copy(update={"notes": p.notes})


async def _set_scope(db: Database, pk: int, scope: Scope) -> None:
    await db.execute(
        "UPDATE memories SET user_id = ?, agent_id = ?, run_id = ? WHERE pk = ? AND "
        "(user_id IS NOT ? OR agent_id IS NOT ? OR run_id IS NOT ?)",
        (*scope, pk, *scope),
    )


async def delete(
    db: Database, vectors: Vectors, memory_id: str, days: float, actor: str | None = None
) -> Memory:
    """See ``MemoryStore.delete`` (input checked)."""
    stamp = now()
    async with db.lock:
        async with vectors.transaction(db):
            row = live_row(await row_by_id(db, memory_id), memory_id, days)
            pk = int(row["pk"])
            await db.execute("UPDATE memories SET deleted_at = ? WHERE pk = ?", (stamp, pk))
            await db.execute("DELETE FROM memory_tags WHERE memory_pk = ?", (pk,))
            change = {"deleted_at": {"old": None, "new": stamp}}
            await record(db, [(memory_id, "delete", change, actor, stamp)])
        vectors.remove(row["namespace"], pk)
    return row_to_memory(row).model_copy(update={"deleted_at": stamp})


async def restore(
    db: Database, vectors: Vectors, memory_id: str, actor: str | None = None
) -> Memory:
    """See ``MemoryStore.restore`` (input checked)."""
    stamp = now()
    async with db.lock:
        async with vectors.transaction(db):
            row = await row_by_id(db, memory_id)
            if row is None:
                raise MemoryNotFoundError(memory_id)
            if row["deleted_at"] is None:
                raise MemoryInputError(f"memory {memory_id!r} is not deleted")
            await _clash(db, row["namespace"], row_scope(row), row["content_hash"], memory_id)
            pk = int(row["pk"])
            await db.execute("UPDATE memories SET deleted_at = NULL WHERE pk = ?", (pk,))
            await db.executemany(
                "INSERT OR IGNORE INTO memory_tags (namespace, tag, memory_pk) VALUES (?, ?, ?)",
                [(row["namespace"], t, pk) for t in json.loads(row["tags"])],
            )
            change = {"deleted_at": {"old": row["deleted_at"], "new": None}}
            await record(db, [(memory_id, "restore", change, actor, stamp)])
            row = await row_by_id(db, memory_id)
        # Its vector goes back with the next load (an index is kept in pk order).
        vectors.forget(row["namespace"] if row is not None else None)
    assert row is not None
    return row_to_memory(row)


async def delete_namespace(
    db: Database, vectors: Vectors, namespace: str, actor: str | None = None
) -> int:
    """See ``MemoryStore.delete_namespace`` (input checked)."""
    stamp = now()
    change = json.dumps({"deleted_at": {"old": None, "new": stamp}})
    async with db.lock:
        async with vectors.transaction(db):
            row = await db.fetchone(
                "SELECT COUNT(*) AS n FROM memories WHERE namespace = ? AND deleted_at IS NULL",
                (namespace,),
            )
            await db.execute(
                "INSERT INTO memory_history (memory_id, action, changes, actor, at) "
                "SELECT id, 'delete', ?, ?, ? FROM memories "
                "WHERE namespace = ? AND deleted_at IS NULL ORDER BY pk",
                (change, actor, stamp, namespace),
            )
            await db.execute(
                "UPDATE memories SET deleted_at = ? WHERE namespace = ? AND deleted_at IS NULL",
                (stamp, namespace),
            )
            await db.execute("DELETE FROM memory_tags WHERE namespace = ?", (namespace,))
        vectors.forget(namespace)
    return int(row["n"]) if row else 0


async def purge(db: Database, vectors: Vectors, cutoff: str, only_if_due: bool = False) -> int:
    """Remove for good the memories deleted at or before ``cutoff`` (``backend.purge_cutoff``),
    with their history and the vectors no memory uses any more; returns how many.
    ``only_if_due``: take the write lock only when there is something to purge (on open)."""
    due_sql = "FROM memories WHERE deleted_at IS NOT NULL AND deleted_at <= ?"
    if only_if_due:
        async with db.reading() as reader:
            if await reader.fetchone(f"SELECT 1 {due_sql} LIMIT 1", (cutoff,)) is None:
                return 0
    async with db.lock, vectors.transaction(db):
        row = await db.fetchone(f"SELECT COUNT(*) AS n {due_sql}", (cutoff,))
        count = int(row["n"]) if row else 0
        if count:
            await db.execute(
                f"DELETE FROM memory_history WHERE memory_id IN (SELECT id {due_sql})", (cutoff,)
            )
            await db.execute(f"DELETE {due_sql}", (cutoff,))
            await db.execute(
                "DELETE FROM embeddings WHERE NOT EXISTS (SELECT 1 FROM memories m WHERE "
                "m.embed_hash = embeddings.text_hash AND m.embed_model = embeddings.model)"
            )
    return count
