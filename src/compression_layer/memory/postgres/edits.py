"""Checks and bulk edits of the Postgres store, as SQLite's ``memory/edits.py`` and
``rows.check_keys``: live rows, content clashes, imports' new rows, unknown filter keys, purge."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from compression_layer.memory.edits import restorable_until
from compression_layer.memory.errors import (
    MemoryConflictError,
    MemoryDeletedError,
    MemoryInputError,
    MemoryNotFoundError,
)
from compression_layer.memory.filters import MemoryFilter, Scope
from compression_layer.memory.pending import Pending
from compression_layer.memory.postgres.db import Conn, PgDatabase, fetchall, fetchone
from compression_layer.memory.postgres.rows import (
    COLUMNS,
    LIVE,
    SAME_SCOPE,
    Vector,
    as_vector,
    existing_rows,
    row_key,
    scope_params,
)

PREFIXED = ", ".join(f"m.{c}" for c in COLUMNS.split(", "))


async def live_row(row: dict[str, Any] | None, memory_id: str, days: float) -> dict[str, Any]:
    """``row`` when it is a live memory; MemoryNotFoundError / MemoryDeletedError otherwise
    (the same errors and words as SQLite's ``edits.live_row``)."""
    if row is None:
        raise MemoryNotFoundError(memory_id)
    if row["deleted_at"] is not None:
        deleted = str(row["deleted_at"])
        raise MemoryDeletedError(memory_id, deleted, restorable_until(deleted, days))
    return row


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


async def check_keys(conn: Conn, namespace: str | None, flt: MemoryFilter) -> None:
    """MemoryInputError when a condition names a metadata key no memory of ``namespace`` (None:
    of the store) has, listing the keys there are (as SQLite's ``rows.check_keys``)."""
    ns_sql, ns_params = ("namespace = %s AND ", [namespace]) if namespace is not None else ("", [])
    missing = []
    for key in dict.fromkeys(c.key for c in flt.conditions):
        found = await fetchone(
            conn, f"SELECT 1 FROM memory_meta WHERE {ns_sql}key = %s LIMIT 1", [*ns_params, key]
        )
        if found is None:
            missing.append(key)
    if not missing:
        return
    rows = await fetchall(
        conn,
        f"SELECT DISTINCT key FROM memory_meta WHERE {ns_sql.removesuffix(' AND ') or 'true'} "
        "ORDER BY key LIMIT 31",
        ns_params,
    )
    keys = [str(r["key"]) for r in rows]
    known = ", ".join(keys[:30]) + (", ..." if len(keys) > 30 else "") if keys else "none"
    where = f"namespace {namespace!r}" if namespace is not None else "the store"
    names = ", ".join(repr(k) for k in missing)
    raise MemoryInputError(
        f"no memory in {where} has the metadata key {names}; keys there: {known}"
    )


async def purge(db: PgDatabase, older_than_days: float, only_if_due: bool = False) -> int:
    """Remove for good the memories deleted more than ``older_than_days`` ago, with their
    history; returns how many (as SQLite's ``edits.purge``)."""
    ok = isinstance(older_than_days, int | float) and not isinstance(older_than_days, bool)
    if not ok or not 0 <= older_than_days < 1e6:
        raise MemoryInputError(f"older_than_days must be a number >= 0, got {older_than_days!r}")
    cutoff = (datetime.now(UTC) - timedelta(days=older_than_days)).isoformat(
        timespec="microseconds"
    )
    due = "FROM memories WHERE deleted_at IS NOT NULL AND deleted_at <= %s"
    if only_if_due and await db.fetchone(f"SELECT 1 {due} LIMIT 1", (cutoff,)) is None:
        return 0
    async with db.transaction() as conn:
        await conn.execute(
            f"DELETE FROM memory_history WHERE memory_id IN (SELECT id {due})", (cutoff,)
        )
        cur = await conn.execute(f"DELETE {due}", (cutoff,))
        return int(cur.rowcount)
