"""Rows of the ``memories`` table: the column list, row -> Memory, and the statements that read
and write rows. Rows are read by column name (``db.Row``).

Helpers that write expect to run inside a transaction (``Vectors.transaction``); those that only
read expect the caller to hold ``db.lock``, or take ``db.Queries`` and run on a reading connection
as well.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from compression_layer.memory.db import Database, Queries, Row
from compression_layer.memory.filters import (
    SCOPE_FIELDS,
    Scope,
    meta_entries,
)
from compression_layer.memory.history import Change, diff, record
from compression_layer.memory.pending import Key, Pending, merge_labels, now
from compression_layer.memory.sql import RowLike
from compression_layer.memory.types import HistoryAction, Memory, StoreStatus

Vectors = Mapping[str, npt.NDArray[np.float32]]
"""Vectors by embed hash."""

COLUMNS = (
    "pk, id, namespace, user_id, agent_id, run_id, content, compressed, engine, adapter, domain, "
    "tokens_original, tokens_compressed, content_hash, embed_hash, embed_model, tags, metadata, "
    "created_at, updated_at, deleted_at"
)
PREFIXED = ", ".join(f"m.{c}" for c in COLUMNS.split(", "))
"""COLUMNS of ``memories AS m``."""
INSERT_SQL = f"INSERT INTO memories ({COLUMNS.removeprefix('pk, ')}) VALUES ({', '.join('?' * 20)})"
UPDATE_SQL = (
    "UPDATE memories SET user_id = ?, agent_id = ?, run_id = ?, content = ?, compressed = ?, "
    "engine = ?, adapter = ?, domain = ?, "
    "tokens_original = ?, tokens_compressed = ?, content_hash = ?, embed_hash = ?, "
    "embed_model = ?, tags = ?, metadata = ?, updated_at = ? WHERE pk = ?"
)
DROP_ORPHAN_SQL = (
    "DELETE FROM embeddings WHERE text_hash = ? AND model = ? AND NOT EXISTS "
    "(SELECT 1 FROM memories WHERE embed_hash = ? AND embed_model = ?)"
)
# The scope of a live memory, matched the way the unique index ``memories_live_content`` is
# built, so the content lookup of a write is one index range.
SAME_SCOPE_SQL = (
    "namespace = ? AND ifnull(user_id, '') = ? AND ifnull(agent_id, '') = ? "
    "AND ifnull(run_id, '') = ? AND deleted_at IS NULL"
)
_CHUNK = 500  # values per json_each() list


def decoded(value: Any) -> Any:
    """A JSON column's value: text from SQLite (decoded here), already decoded from Postgres'
    jsonb."""
    return json.loads(value) if isinstance(value, str) else value


def row_to_memory(row: RowLike, status: StoreStatus | None = None) -> Memory:
    """A ``SELECT COLUMNS`` row (either backend's) as a Memory."""
    return Memory(
        id=row["id"],
        namespace=row["namespace"],
        user_id=row["user_id"],
        agent_id=row["agent_id"],
        run_id=row["run_id"],
        content=row["content"],
        compressed=row["compressed"],
        engine=row["engine"],
        adapter=row["adapter"],
        domain=row["domain"],
        tokens_original=row["tokens_original"],
        tokens_compressed=row["tokens_compressed"],
        content_hash=row["content_hash"],
        tags=list(decoded(row["tags"])),
        metadata=dict(decoded(row["metadata"])),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        deleted_at=row["deleted_at"],
        status=status,
    )


def row_scope(row: Row) -> Scope:
    return (row["user_id"], row["agent_id"], row["run_id"])


def row_key(row: Row) -> Key:
    return (row["namespace"], row_scope(row), row["content_hash"])


def row_state(row: Row) -> dict[str, Any]:
    """The tracked fields of a stored row, as the history records them."""
    return {
        "content": row["content"],
        "tags": json.loads(row["tags"]),
        "metadata": json.loads(row["metadata"]),
        "user_id": row["user_id"],
        "agent_id": row["agent_id"],
        "run_id": row["run_id"],
        "deleted_at": row["deleted_at"],
    }


async def row_by_id(db: Queries, memory_id: str) -> Row | None:
    return await db.fetchone(f"SELECT {COLUMNS} FROM memories WHERE id = ?", (memory_id,))


async def tagged(db: Queries, namespace: str, tags: Sequence[str]) -> list[int]:
    """pks of the namespace's memories that carry every one of ``tags`` (at least one), in
    order: one range of ``memory_tags``' primary key per tag, intersected."""
    one = "SELECT memory_pk FROM memory_tags WHERE namespace = ? AND tag = ?"
    rows = await db.fetchall(
        " INTERSECT ".join([one] * len(tags)) + " ORDER BY memory_pk",
        [value for tag in tags for value in (namespace, tag)],
    )
    return [int(r["memory_pk"]) for r in rows]


async def rows_by_pk(db: Database, pks: Iterable[int]) -> dict[int, Row]:
    wanted = sorted(set(pks))
    if not wanted:
        return {}
    rows = await db.fetchall(
        f"SELECT {COLUMNS} FROM memories WHERE pk IN (SELECT value FROM json_each(?))",
        (json.dumps(wanted),),
    )
    return {int(r["pk"]): r for r in rows}


async def existing_rows(db: Database, keys: Iterable[Key]) -> dict[Key, Row]:
    """Live rows already stored for these (namespace, scope, content_hash) keys."""
    by_scope: dict[tuple[str, Scope], list[str]] = {}
    for ns, scope, h in keys:
        by_scope.setdefault((ns, scope), []).append(h)
    found: dict[Key, Row] = {}
    for (ns, scope), hashes in by_scope.items():
        for start in range(0, len(hashes), _CHUNK):
            rows = await db.fetchall(
                f"SELECT {COLUMNS} FROM memories WHERE {SAME_SCOPE_SQL} AND content_hash IN "
                "(SELECT value FROM json_each(?))",
                (ns, *(p or "" for p in scope), json.dumps(hashes[start : start + _CHUNK])),
            )
            found.update({row_key(r): r for r in rows})
    return found


async def taken_ids(db: Database, ids: Sequence[str]) -> dict[str, Key]:
    """The (namespace, scope, content_hash) of the memories (live or deleted) using these ids."""
    taken: dict[str, Key] = {}
    for start in range(0, len(ids), _CHUNK):
        rows = await db.fetchall(
            "SELECT id, namespace, user_id, agent_id, run_id, content_hash FROM memories "
            "WHERE id IN (SELECT value FROM json_each(?))",
            (json.dumps(list(ids[start : start + _CHUNK])),),
        )
        taken.update({str(r["id"]): row_key(r) for r in rows})
    return taken


async def write_rows(
    db: Database,
    model: str,
    items: Sequence[Pending],
    vectors: Vectors,
    action: HistoryAction = "create",
    actor: str | None = None,
) -> None:
    """Insert new items and update those with a ``pk``; their pks are set on return. Tags and
    metadata are indexed, and every change goes to the history (inserts as ``action``)."""
    embeds = {p.embed_hash: vectors[p.embed_hash] for p in items}
    await db.executemany(
        "INSERT OR IGNORE INTO embeddings (text_hash, model, dim, vector) VALUES (?, ?, ?, ?)",
        [(h, model, int(v.shape[0]), v.astype(np.float32).tobytes()) for h, v in embeds.items()],
    )
    changes: list[Change] = []
    for p in items:
        if p.pk is not None:
            changes += await update_row(db, model, p, actor)
    inserts = [p for p in items if p.pk is None]
    if inserts:
        await db.executemany(INSERT_SQL, [p.params(model) for p in inserts])
        pk_by_id: dict[str, int] = {}
        ids = [p.id for p in inserts]
        for start in range(0, len(ids), _CHUNK):
            rows = await db.fetchall(
                "SELECT id, pk FROM memories WHERE id IN (SELECT value FROM json_each(?))",
                (json.dumps(ids[start : start + _CHUNK]),),
            )
            pk_by_id.update({str(r["id"]): int(r["pk"]) for r in rows})
        for p in inserts:
            p.pk = pk_by_id[p.id]
        changes += [(p.id, action, {}, actor, p.created_at) for p in inserts]
    live = [p for p in items if p.deleted_at is None]
    await db.executemany(
        "INSERT OR IGNORE INTO memory_tags (namespace, tag, memory_pk) VALUES (?, ?, ?)",
        [(p.namespace, tag, p.pk) for p in live for tag in p.tags],
    )
    await index_meta(db, [(int(p.pk), p.namespace, p.metadata_json) for p in items if p.pk])
    await record(db, changes)


async def index_meta(db: Database, rows: Sequence[tuple[int, str, str]]) -> None:
    """(Re)index the metadata of memories given as (pk, namespace, metadata JSON)."""
    await db.executemany(
        "DELETE FROM memory_meta WHERE memory_pk = ?", [(pk,) for pk, _, _ in rows]
    )
    await db.executemany(
        "INSERT INTO memory_meta (memory_pk, namespace, key, kind, num, text) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [(pk, ns, *entry) for pk, ns, meta in rows for entry in meta_entries(meta)],
    )


async def update_row(db: Database, model: str, p: Pending, actor: str | None) -> list[Change]:
    """Rewrite stored memory ``p.pk`` with ``p``'s fields; drop its old vector if now unused.
    Returns the history entry of the change."""
    old = await db.fetchone(f"SELECT {COLUMNS} FROM memories WHERE pk = ?", (p.pk,))
    params = p.params(model)
    stamp = p.updated_at or now()
    await db.execute(UPDATE_SQL, (*params[2:17], stamp, p.pk))
    await db.execute("DELETE FROM memory_tags WHERE memory_pk = ?", (p.pk,))
    if old is None:
        return []
    await drop_orphan_vector(db, old["embed_hash"], old["embed_model"])
    new = {
        "content": p.content,
        "tags": p.tags,
        "metadata": json.loads(p.metadata_json),
        **dict(zip(SCOPE_FIELDS, p.scope, strict=True)),
    }
    changed = diff(row_state(old), new)
    if old["compressed"] != p.compressed:
        changed["compressed"] = {"old": old["compressed"], "new": p.compressed}
    return [(p.id, "update", changed, actor, stamp)] if changed else []


async def drop_orphan_vector(db: Database, text_hash: str, model: str) -> None:
    """Delete a stored vector no memory points at any more."""
    await db.execute(DROP_ORPHAN_SQL, (text_hash, model, text_hash, model))


async def set_labels(
    db: Database, pk: int, tags: list[str], metadata_json: str, stamp: str
) -> None:
    """Replace the tags and metadata of (live) memory ``pk``, with their indexes."""
    await db.execute(
        "UPDATE memories SET tags = ?, metadata = ?, updated_at = ? WHERE pk = ?",
        (json.dumps(tags, ensure_ascii=False), metadata_json, stamp, pk),
    )
    await db.execute("DELETE FROM memory_tags WHERE memory_pk = ?", (pk,))
    await db.executemany(
        "INSERT INTO memory_tags (namespace, tag, memory_pk) "
        "SELECT namespace, ?, pk FROM memories WHERE pk = ?",
        [(t, pk) for t in tags],
    )
    row = await db.fetchone("SELECT namespace FROM memories WHERE pk = ?", (pk,))
    if row is not None:
        await index_meta(db, [(pk, str(row["namespace"]), metadata_json)])


async def relabel(
    db: Database, row: Row, tags: list[str], metadata_json: str, status: StoreStatus
) -> Memory:
    """Merge tags and metadata into stored memory ``row``; its notes say what was added, and
    the history records the merge."""
    memory = row_to_memory(row, status)
    merged_tags, merged_meta, notes = merge_labels(
        memory.tags, row["metadata"], tags, metadata_json
    )
    if notes:
        stamp = now()
        await set_labels(db, int(row["pk"]), merged_tags, merged_meta, stamp)
        new = {"tags": merged_tags, "metadata": json.loads(merged_meta)}
        await record(db, [(memory.id, "merge", diff(row_state(row), new), None, stamp)])
        memory = memory.model_copy(
            update={"tags": merged_tags, "metadata": json.loads(merged_meta), "updated_at": stamp}
        )
    return memory.model_copy(update={"notes": notes})
