"""Changing and removing stored memories on Postgres: update, soft delete, restore, purge, and
an import's writes; the same steps and answers as SQLite's ``memory/edits.py``, with the shared
parts (``backend.plan_update``, ``live_row``, ``import_plan``) taken from ``memory/backend.py``.

Each is one transaction that takes the advisory lock of the namespaces it writes
(``rows.lock_namespaces``), with its history entry; a new content is compressed and embedded
before it.
"""

from __future__ import annotations

import json

from compression_layer.memory.backend import Edit, live_row, plan_update
from compression_layer.memory.errors import (
    MemoryConflictError,
    MemoryInputError,
    MemoryNotFoundError,
)
from compression_layer.memory.filters import Scope
from compression_layer.memory.history import import_restores
from compression_layer.memory.pending import Pending, now
from compression_layer.memory.postgres.db import Conn, PgDatabase, fetchall, fetchone
from compression_layer.memory.postgres.rows import (
    COLUMNS,
    LIVE,
    SAME_SCOPE,
    Vector,
    as_vector,
    existing_rows,
    lock_namespaces,
    record,
    row_by_id,
    row_key,
    row_scope,
    scope_params,
    write_rows,
)
from compression_layer.memory.postgres.writes import PgWriter
from compression_layer.memory.rows import row_to_memory
from compression_layer.memory.types import Memory

PREFIXED = ", ".join(f"m.{c}" for c in COLUMNS.split(", "))


async def clash(conn: Conn, namespace: str, scope: Scope, content_hash: str, mid: str) -> None:
    """MemoryConflictError when another live memory of the scope has this content."""
    row = await fetchone(
        conn,
        f"SELECT id FROM memories WHERE namespace = %s AND {SAME_SCOPE} AND {LIVE} "
        "AND content_hash = %s AND id <> %s",
        (namespace, *scope_params(scope), content_hash, mid),
    )
    if row:
        raise MemoryConflictError(
            f"memory {row['id']} in namespace {namespace!r} (same scope) already has this content"
        )


async def stored_vector(conn: Conn, pk: int | None) -> Vector:
    row = await fetchone(conn, "SELECT embedding::real[] AS v FROM memories WHERE pk = %s", (pk,))
    assert row is not None
    return as_vector(row["v"])


async def update(
    writer: PgWriter, memory_id: str, edit: Edit, compress: bool, actor: str | None
) -> Memory:
    """See ``MemoryStore.update`` (input checked)."""
    db = writer.db
    days = writer.settings.soft_delete_days
    async with db.connection() as conn:
        row = live_row(await row_by_id(conn, memory_id, live=False), memory_id, days)
    p, changed, vectors = await plan_update(
        writer, row_to_memory(row), int(row["pk"]), edit, compress
    )
    async with db.transaction() as conn:
        await lock_namespaces(conn, [p.namespace])
        row = live_row(await row_by_id(conn, memory_id, live=False), memory_id, days)
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
        await write_rows(conn, writer.vectors.model, [p], vectors, actor=actor)
        after = await row_by_id(conn, memory_id)
    assert after is not None
    return row_to_memory(after).model_copy(update={"notes": p.notes})


async def delete(db: PgDatabase, memory_id: str, days: float, actor: str | None) -> Memory:
    """See ``MemoryStore.delete`` (input checked)."""
    stamp = now()
    async with db.transaction() as conn:
        row = live_row(await row_by_id(conn, memory_id, live=False), memory_id, days)
        await conn.execute("UPDATE memories SET deleted_at = %s WHERE pk = %s", (stamp, row["pk"]))
        change = {"deleted_at": {"old": None, "new": stamp}}
        await record(conn, [(memory_id, "delete", change, actor, stamp)])
    return row_to_memory(row).model_copy(update={"deleted_at": stamp})


async def restore(db: PgDatabase, memory_id: str, actor: str | None) -> Memory:
    """See ``MemoryStore.restore`` (input checked)."""
    stamp = now()
    async with db.transaction() as conn:
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


async def delete_namespace(db: PgDatabase, namespace: str, actor: str | None) -> int:
    """See ``MemoryStore.delete_namespace`` (input checked)."""
    stamp = now()
    change = json.dumps({"deleted_at": {"new": stamp, "old": None}}, sort_keys=True)
    async with db.transaction() as conn:
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


async def not_stored(conn: Conn, items: list[Pending]) -> list[Pending]:
    """Items whose id and content are both new; an id taken by other content is a conflict."""
    rows = await fetchall(
        conn, f"SELECT {COLUMNS} FROM memories WHERE id = ANY(%s)", ([p.id for p in items],)
    )
    taken = {r["id"]: row_key(r) for r in rows}
    for p in items:
        if p.id in taken and taken[p.id] != p.key:
            raise MemoryConflictError(f"id {p.id} is already used by a different memory")
    same = await existing_rows(conn, [p.key for p in items if p.deleted_at is None])
    return [
        p for p in items if p.id not in taken and (p.deleted_at is not None or p.key not in same)
    ]


async def import_items(writer: PgWriter, unique: list[Pending]) -> int:
    """Write an import's records (``backend.import_plan``) not stored yet; how many."""
    db = writer.db
    async with db.connection() as conn:
        todo = await not_stored(conn, unique)
    vectors = await writer.embed(todo)
    async with db.transaction() as conn:
        # Every namespace of the import, taken once in order: revive writes some of them too.
        await lock_namespaces(conn, [p.namespace for p in unique])
        todo = await not_stored(conn, todo)
        await write_rows(conn, writer.vectors.model, todo, vectors, action="import")
        revived = await revive(conn, unique)
    return len(todo) + len(revived)


async def revive(conn: Conn, items: list[Pending]) -> list[Pending]:
    """Live records whose memory is here but deleted (a backup restored after a delete): the
    memory comes back as it is stored, unless its content is live again in its scope. Inside
    the import's transaction (as SQLite's ``transfer.import_items``)."""
    live = [p for p in items if p.deleted_at is None]
    if not live:
        return []
    rows = await fetchall(
        conn,
        "SELECT id, pk, namespace, deleted_at FROM memories "
        "WHERE deleted_at IS NOT NULL AND id = ANY(%s)",
        ([p.id for p in live],),
    )
    deleted = {str(r["id"]): r for r in rows}
    candidates = [p for p in live if p.id in deleted]
    back = await existing_rows(conn, [p.key for p in candidates])
    revived = [p for p in candidates if p.key not in back]
    stamp = now()
    for p in revived:
        await conn.execute(
            "UPDATE memories SET deleted_at = NULL WHERE pk = %s", (deleted[p.id]["pk"],)
        )
    deleted_at = {mid: r["deleted_at"] for mid, r in deleted.items()}
    await record(conn, import_restores([p.id for p in revived], deleted_at, stamp))
    return revived


async def purge(db: PgDatabase, cutoff: str, only_if_due: bool = False) -> int:
    """Remove for good the memories deleted at or before ``cutoff`` (``backend.purge_cutoff``),
    with their history; returns how many."""
    due = "FROM memories WHERE deleted_at IS NOT NULL AND deleted_at <= %s"
    if only_if_due and await db.fetchone(f"SELECT 1 {due} LIMIT 1", (cutoff,)) is None:
        return 0
    async with db.transaction() as conn:
        await conn.execute(
            f"DELETE FROM memory_history WHERE memory_id IN (SELECT id {due})", (cutoff,)
        )
        cur = await conn.execute(f"DELETE {due}", (cutoff,))
        return int(cur.rowcount)
