"""Rows of the Postgres ``memories`` table: columns, row -> Memory, vectors in and out."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from compression_layer.memory.filters import SCOPE_FIELDS, Scope, meta_entries
from compression_layer.memory.history import diff
from compression_layer.memory.pending import Pending
from compression_layer.memory.postgres.db import Conn, fetchall

Key = tuple[str, Scope, str]
"""(namespace, scope, content_hash), as ``Pending.key``."""
Vector = npt.NDArray[np.float32]

COLUMNS = (
    "pk, id, namespace, user_id, agent_id, run_id, content, compressed, engine, adapter, domain, "
    "tokens_original, tokens_compressed, content_hash, embed_hash, embed_model, tags, metadata, "
    "created_at, updated_at, deleted_at"
)
INSERT_SQL = (
    "INSERT INTO memories (id, namespace, user_id, agent_id, run_id, content, compressed, "
    "engine, adapter, domain, tokens_original, tokens_compressed, content_hash, embed_hash, "
    "embed_model, tags, metadata, created_at, updated_at, deleted_at, embed_dim, embedding) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s::jsonb, "
    "%s, %s, %s, %s, %s::vector) RETURNING pk"
)
UPDATE_SQL = (
    "UPDATE memories SET user_id = %s, agent_id = %s, run_id = %s, content = %s, compressed = %s, "
    "engine = %s, adapter = %s, domain = %s, tokens_original = %s, tokens_compressed = %s, "
    "content_hash = %s, embed_hash = %s, embed_model = %s, tags = %s::jsonb, "
    "metadata = %s::jsonb, updated_at = %s, embed_dim = %s, embedding = %s::vector WHERE pk = %s"
)
LIVE = "deleted_at IS NULL"
SAME_SCOPE = (
    "coalesce(user_id, '') = %s AND coalesce(agent_id, '') = %s AND coalesce(run_id, '') = %s"
)


def scope_params(scope: Scope) -> list[str]:
    return [part or "" for part in scope]


def vector_text(vec: Vector) -> str:
    """pgvector's text form of a float32 vector (exact: float32 values printed in full)."""
    return "[" + ",".join(repr(float(x)) for x in vec.tolist()) + "]"


def as_vector(value: Sequence[float]) -> Vector:
    return np.asarray(value, dtype=np.float32)


def json_text(value: Any) -> str:
    """A jsonb column's value (already decoded by the driver) as the JSON text ``Pending`` holds."""
    return json.dumps(value, ensure_ascii=False)


def row_scope(row: Mapping[str, Any]) -> Scope:
    return (row["user_id"], row["agent_id"], row["run_id"])


def row_key(row: Mapping[str, Any]) -> Key:
    return (row["namespace"], row_scope(row), row["content_hash"])


async def row_by_id(conn: Conn, memory_id: str, live: bool = True) -> dict[str, Any] | None:
    """The row of ``memory_id`` (live only, unless ``live`` is False)."""
    where = f"id = %s AND {LIVE}" if live else "id = %s"
    rows = await fetchall(conn, f"SELECT {COLUMNS} FROM memories WHERE {where}", (memory_id,))
    return rows[0] if rows else None


async def rows_by_pk(conn: Conn, pks: Iterable[int]) -> dict[int, dict[str, Any]]:
    wanted = sorted(set(pks))
    if not wanted:
        return {}
    rows = await fetchall(conn, f"SELECT {COLUMNS} FROM memories WHERE pk = ANY(%s)", (wanted,))
    return {int(r["pk"]): r for r in rows}


async def existing_rows(conn: Conn, keys: Iterable[Key]) -> dict[Key, dict[str, Any]]:
    """Live rows already stored for these (namespace, scope, content_hash) keys."""
    groups: dict[tuple[str, Scope], list[str]] = {}
    for ns, scope, h in keys:
        groups.setdefault((ns, scope), []).append(h)
    found: dict[Key, dict[str, Any]] = {}
    for (ns, scope), hashes in groups.items():
        rows = await fetchall(
            conn,
            f"SELECT {COLUMNS} FROM memories WHERE namespace = %s AND {SAME_SCOPE} AND {LIVE} "
            "AND content_hash = ANY(%s)",
            (ns, *scope_params(scope), hashes),
        )
        found.update({row_key(r): r for r in rows})
    return found


def insert_params(p: Pending, model: str, vec: Vector) -> tuple[Any, ...]:
    return (
        p.id,
        p.namespace,
        *p.scope,
        p.content,
        p.compressed,
        p.engine,
        p.adapter,
        p.domain,
        p.tokens_original,
        p.tokens_compressed,
        p.content_hash,
        p.embed_hash,
        model,
        json.dumps(p.tags, ensure_ascii=False),
        p.metadata_json,
        p.created_at,
        p.updated_at or p.created_at,
        p.deleted_at,
        int(vec.shape[0]),
        vector_text(vec),
    )


async def index_meta(
    conn: Conn, pk: int, namespace: str, metadata_json: str, fresh: bool = False
) -> None:
    """(Re)index one memory's metadata in ``memory_meta`` (``filters.meta_entries``);
    ``fresh``: a memory just inserted, with no entries to replace."""
    if not fresh:
        await conn.execute("DELETE FROM memory_meta WHERE memory_pk = %s", (pk,))
    entries = meta_entries(metadata_json)
    if entries:
        async with conn.cursor() as cur:
            await cur.executemany(
                "INSERT INTO memory_meta (memory_pk, namespace, key, kind, num, text) "
                "VALUES (%s, %s, %s, %s, %s, %s)",
                [(pk, namespace, *entry) for entry in entries],
            )


Change = tuple[str, str, Mapping[str, Any], "str | None", str]
"""(memory_id, action, changes, actor, at), as ``history.Change``."""


def row_state(row: Mapping[str, Any]) -> dict[str, Any]:
    """The tracked fields of a stored row, as the history records them (``history.TRACKED``)."""
    return {
        "content": row["content"],
        "tags": list(row["tags"]),
        "metadata": dict(row["metadata"]),
        "user_id": row["user_id"],
        "agent_id": row["agent_id"],
        "run_id": row["run_id"],
        "deleted_at": row["deleted_at"],
    }


async def record(conn: Conn, changes: Sequence[Change]) -> None:
    """Append history entries; inside the caller's transaction."""
    if not changes:
        return
    async with conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO memory_history (memory_id, action, changes, actor, at) "
            "VALUES (%s, %s, %s::jsonb, %s, %s)",
            [
                (mid, action, json.dumps(ch, sort_keys=True, ensure_ascii=False), actor, at)
                for mid, action, ch, actor, at in changes
            ],
        )


async def write_rows(
    conn: Conn,
    model: str,
    items: Sequence[Pending],
    vectors: Mapping[str, Vector],
    action: str = "create",
    actor: str | None = None,
) -> None:
    """Insert new items and update those with a ``pk``; their pks are set on return. Metadata
    is indexed and every change goes to the history (inserts as ``action``), as in SQLite."""
    changes: list[Change] = []
    inserts = [p for p in items if p.pk is None]
    if inserts:
        # One pipelined batch: a round trip per row cost more than the row.
        async with conn.cursor() as cur:
            await cur.executemany(
                INSERT_SQL,
                [insert_params(p, model, vectors[p.embed_hash]) for p in inserts],
                returning=True,
            )
            for p in inserts:
                row = await cur.fetchone()
                assert row is not None
                p.pk = int(row["pk"])
                changes.append((p.id, action, {}, actor, p.created_at))
                cur.nextset()
        entries = [
            (p.pk, p.namespace, *entry) for p in inserts for entry in meta_entries(p.metadata_json)
        ]
        if entries:
            async with conn.cursor() as cur:
                await cur.executemany(
                    "INSERT INTO memory_meta (memory_pk, namespace, key, kind, num, text) "
                    "VALUES (%s, %s, %s, %s, %s, %s)",
                    entries,
                )
    for p in items:
        if p.pk is None or any(p is q for q in inserts):
            continue
        vec = vectors[p.embed_hash]
        old = await fetchall(conn, f"SELECT {COLUMNS} FROM memories WHERE pk = %s", (p.pk,))
        await conn.execute(
            UPDATE_SQL,
            (
                *p.scope,
                p.content,
                p.compressed,
                p.engine,
                p.adapter,
                p.domain,
                p.tokens_original,
                p.tokens_compressed,
                p.content_hash,
                p.embed_hash,
                model,
                json.dumps(p.tags, ensure_ascii=False),
                p.metadata_json,
                p.updated_at,
                int(vec.shape[0]),
                vector_text(vec),
                p.pk,
            ),
        )
        if old:
            new_state = {
                "content": p.content,
                "tags": p.tags,
                "metadata": json.loads(p.metadata_json),
                **dict(zip(SCOPE_FIELDS, p.scope, strict=True)),
            }
            found = diff(row_state(old[0]), new_state)
            if found:
                changes.append((p.id, "update", found, actor, p.updated_at))
        await index_meta(conn, p.pk, p.namespace, p.metadata_json)
    await record(conn, changes)


async def set_labels(conn: Conn, pk: int, tags: list[str], metadata_json: str, at: str) -> None:
    await conn.execute(
        "UPDATE memories SET tags = %s::jsonb, metadata = %s::jsonb, updated_at = %s WHERE pk = %s",
        (json.dumps(tags, ensure_ascii=False), metadata_json, at, pk),
    )


WRITERS_LOCK = 0x636C77726974  # pg_advisory_xact_lock key: writers shared, wide listers exclusive
"""Held shared by every writing transaction (writers never wait for each other on it) and
briefly exclusive by a list across namespaces (``wait_for_writers``)."""


async def lock_namespaces(conn: Conn, namespaces: Iterable[str]) -> None:
    """Serialise writers of these namespaces until the transaction ends (advisory locks, taken in
    one order so two writers never deadlock): the duplicate checks of one see the other's rows.

    Within a namespace pks therefore commit in increasing order. Across namespaces they need
    not (a writer of ``a`` takes pk 10, one of ``b`` pk 11 and commits first), so every writer
    also holds ``WRITERS_LOCK`` shared, taken first, for ``wait_for_writers``."""
    await conn.execute("SELECT pg_advisory_xact_lock_shared(%s)", (WRITERS_LOCK,))
    for ns in sorted(set(namespaces)):
        await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 17))", (ns,))


async def wait_for_writers(conn: Conn) -> None:
    """In a transaction: wait until every writing transaction in flight has ended, and keep new
    ones from starting until this one ends. Every pk taken so far is then committed or never
    will be, so a page read next is a complete prefix of the pk order: a cursor after its last
    pk cannot skip a row that commits later (issue 17: pks commit out of order across
    namespaces). Costs a list across namespaces the wait for a write in flight."""
    await conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITERS_LOCK,))
