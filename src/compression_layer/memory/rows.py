"""Rows of the ``memories`` table: the column list, row -> Memory, and the statements that read
and write rows. Rows are read by column name (``db.Row``).

Helpers that write expect to run inside a transaction (``Vectors.transaction``); those that only
read expect the caller to hold ``db.lock``, or take ``db.Queries`` and run on a reading connection
as well.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import numpy.typing as npt

from compression_layer.memory.db import Database, Queries, Row
from compression_layer.memory.pending import Pending, merge_labels, now
from compression_layer.memory.types import Memory, StoreStatus

Key = tuple[str, str]
"""(namespace, content_hash)."""
Vectors = Mapping[str, npt.NDArray[np.float32]]
"""Vectors by embed hash."""

COLUMNS = (
    "pk, id, namespace, content, compressed, engine, adapter, domain, tokens_original, "
    "tokens_compressed, content_hash, embed_hash, embed_model, tags, metadata, created_at, "
    "updated_at"
)
INSERT_SQL = f"INSERT INTO memories ({COLUMNS.removeprefix('pk, ')}) VALUES ({', '.join('?' * 16)})"
UPDATE_SQL = (
    "UPDATE memories SET content = ?, compressed = ?, engine = ?, adapter = ?, domain = ?, "
    "tokens_original = ?, tokens_compressed = ?, content_hash = ?, embed_hash = ?, "
    "embed_model = ?, tags = ?, metadata = ?, updated_at = ? WHERE pk = ?"
)
DROP_ORPHAN_SQL = (
    "DELETE FROM embeddings WHERE text_hash = ? AND model = ? AND NOT EXISTS "
    "(SELECT 1 FROM memories WHERE embed_hash = ? AND embed_model = ?)"
)
_CHUNK = 500  # values per json_each() list


def row_to_memory(row: Row, status: StoreStatus | None = None) -> Memory:
    """A ``SELECT COLUMNS`` row as a Memory."""
    return Memory(
        id=row["id"],
        namespace=row["namespace"],
        content=row["content"],
        compressed=row["compressed"],
        engine=row["engine"],
        adapter=row["adapter"],
        domain=row["domain"],
        tokens_original=row["tokens_original"],
        tokens_compressed=row["tokens_compressed"],
        content_hash=row["content_hash"],
        tags=json.loads(row["tags"]),
        metadata=json.loads(row["metadata"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        status=status,
    )


def row_key(row: Row) -> Key:
    return (row["namespace"], row["content_hash"])


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
    """Rows already stored for these (namespace, content_hash) keys."""
    by_ns: dict[str, list[str]] = {}
    for ns, h in keys:
        by_ns.setdefault(ns, []).append(h)
    found: dict[Key, Row] = {}
    for ns, hashes in by_ns.items():
        for start in range(0, len(hashes), _CHUNK):
            rows = await db.fetchall(
                f"SELECT {COLUMNS} FROM memories WHERE namespace = ? AND content_hash IN "
                "(SELECT value FROM json_each(?))",
                (ns, json.dumps(hashes[start : start + _CHUNK])),
            )
            found.update({row_key(r): r for r in rows})
    return found


async def taken_ids(db: Database, ids: Sequence[str]) -> dict[str, Key]:
    """The (namespace, content_hash) of the memories that already use these ids."""
    taken: dict[str, Key] = {}
    for start in range(0, len(ids), _CHUNK):
        rows = await db.fetchall(
            "SELECT id, namespace, content_hash FROM memories WHERE id IN "
            "(SELECT value FROM json_each(?))",
            (json.dumps(list(ids[start : start + _CHUNK])),),
        )
        taken.update({str(r["id"]): (str(r["namespace"]), str(r["content_hash"])) for r in rows})
    return taken


async def write_rows(db: Database, model: str, items: Sequence[Pending], vectors: Vectors) -> None:
    """Insert new items and update those with a ``pk``; their pks are set on return."""
    embeds = {p.embed_hash: vectors[p.embed_hash] for p in items}
    await db.executemany(
        "INSERT OR IGNORE INTO embeddings (text_hash, model, dim, vector) VALUES (?, ?, ?, ?)",
        [(h, model, int(v.shape[0]), v.astype(np.float32).tobytes()) for h, v in embeds.items()],
    )
    for p in items:
        if p.pk is not None:
            await update_row(db, model, p)
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
    await db.executemany(
        "INSERT OR IGNORE INTO memory_tags (namespace, tag, memory_pk) VALUES (?, ?, ?)",
        [(p.namespace, tag, p.pk) for p in items for tag in p.tags],
    )


async def update_row(db: Database, model: str, p: Pending) -> None:
    """Rewrite stored memory ``p.pk`` with ``p``'s fields; drop its old vector if now unused."""
    old = await db.fetchone("SELECT embed_hash, embed_model FROM memories WHERE pk = ?", (p.pk,))
    params = p.params(model)
    await db.execute(UPDATE_SQL, (*params[2:14], p.updated_at or now(), p.pk))
    await db.execute("DELETE FROM memory_tags WHERE memory_pk = ?", (p.pk,))
    if old is not None:
        await drop_orphan_vector(db, old["embed_hash"], old["embed_model"])


async def drop_orphan_vector(db: Database, text_hash: str, model: str) -> None:
    """Delete a stored vector no memory points at any more."""
    await db.execute(DROP_ORPHAN_SQL, (text_hash, model, text_hash, model))


async def set_labels(
    db: Database, pk: int, tags: list[str], metadata_json: str, stamp: str
) -> None:
    """Replace the tags and metadata of memory ``pk``."""
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


async def relabel(
    db: Database, row: Row, tags: list[str], metadata_json: str, status: StoreStatus
) -> Memory:
    """Merge tags and metadata into stored memory ``row``; its notes say what was added."""
    memory = row_to_memory(row, status)
    merged_tags, merged_meta, notes = merge_labels(
        memory.tags, row["metadata"], tags, metadata_json
    )
    if notes:
        stamp = now()
        await set_labels(db, int(row["pk"]), merged_tags, merged_meta, stamp)
        memory = memory.model_copy(
            update={"tags": merged_tags, "metadata": json.loads(merged_meta), "updated_at": stamp}
        )
    return memory.model_copy(update={"notes": notes})
