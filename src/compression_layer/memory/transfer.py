"""Lossless import of exported memories (``MemoryStore.export`` / ``import_records``).

A record carries every field of a Memory. Import keeps ids, timestamps and the compressed text
exactly as exported (nothing is recompressed); vectors are derived data, so they are looked up by
text hash and embedded only when this database does not have them yet.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from compression_layer.memory.db import Database
from compression_layer.memory.errors import MemoryConflictError, MemoryInputError
from compression_layer.memory.filters import scope_of
from compression_layer.memory.history import import_restores, record
from compression_layer.memory.pending import Pending, now, set_embed_hash
from compression_layer.memory.rows import existing_rows, taken_ids, write_rows
from compression_layer.memory.validate import (
    check_content,
    check_id,
    check_metadata,
    check_namespace,
    check_tags,
    sha256,
)
from compression_layer.memory.writes import Writer

REQUIRED = (
    "id",
    "namespace",
    "content",
    "compressed",
    "engine",
    "domain",
    "tokens_original",
    "tokens_compressed",
    "content_hash",
    "created_at",
    "updated_at",
)
OPTIONAL = ("adapter", "tags", "metadata", "status", "user_id", "agent_id", "run_id", "deleted_at")


def record_to_pending(
    record: Mapping[str, Any], line: int, max_content_bytes: int, embed_source: str
) -> Pending:
    """Check one exported record; errors name its (1-based) position."""
    where = f"record {line}"
    if not isinstance(record, Mapping):
        raise MemoryInputError(f"{where}: not a JSON object")
    missing = [f for f in REQUIRED if f not in record]
    unknown = sorted(set(record) - set(REQUIRED) - set(OPTIONAL))
    if missing or unknown:
        raise MemoryInputError(f"{where}: missing {missing or '-'}, unknown {unknown or '-'}")
    try:
        content = check_content(record["content"], max_content_bytes)
        if sha256(content) != record["content_hash"]:
            raise MemoryInputError("content_hash does not match content")
        for field in ("compressed", "engine", "domain", "created_at", "updated_at"):
            if not isinstance(record[field], str) or not record[field]:
                raise MemoryInputError(f"{field} must be a non-empty string")
        for field in ("tokens_original", "tokens_compressed"):
            value = record[field]
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise MemoryInputError(f"{field} must be a non-negative integer")
        adapter = record.get("adapter")
        if adapter is not None and not isinstance(adapter, str):
            raise MemoryInputError("adapter must be a string or null")
        deleted_at = record.get("deleted_at")
        if deleted_at is not None and (not isinstance(deleted_at, str) or not deleted_at):
            raise MemoryInputError("deleted_at must be a non-empty string or null")
        scope = scope_of(record.get("user_id"), record.get("agent_id"), record.get("run_id"))
        p = Pending(
            id=check_id(record["id"]),
            namespace=check_namespace(record["namespace"]),
            content=content,
            content_hash=record["content_hash"],
            tags=check_tags(record.get("tags") or []),
            metadata_json=check_metadata(record.get("metadata") or {}),
            compressed=record["compressed"],
            engine=record["engine"],
            adapter=adapter,
            domain=record["domain"],
            tokens_original=record["tokens_original"],
            tokens_compressed=record["tokens_compressed"],
            created_at=record["created_at"],
            updated_at=record["updated_at"],
            scope=scope,
            deleted_at=deleted_at,
        )
    except MemoryInputError as exc:
        raise MemoryInputError(f"{where}: {exc}") from exc
    set_embed_hash(p, embed_source)
    return p


async def import_items(writer: Writer, unique: list[Pending]) -> int:
    """Write an import's records (``backend.import_plan``) not stored yet; how many were
    created or brought back. See ``MemoryStore.import_records``."""
    db = writer.db
    async with db.lock:
        todo = await _not_stored(db, unique)
    vectors = await writer.embed(todo)
    async with db.lock, writer.vectors.transaction(db):
        todo = await _not_stored(db, todo)
        await write_rows(db, writer.vectors.model, todo, vectors, action="import")
        revived = await _revive(db, unique)
    # Cached matrices would miss the imported rows; they reload on the next search.
    for p in [*todo, *revived]:
        writer.vectors.forget(p.namespace)
    return len(todo) + len(revived)


async def _revive(db: Database, items: list[Pending]) -> list[Pending]:
    """Live records whose memory is here but deleted (a backup restored after a delete): the
    memory comes back as it is stored, unless its content is live again in its scope. Inside
    the import's transaction."""
    live = [p for p in items if p.deleted_at is None]
    if not live:
        return []
    rows = await db.fetchall(
        "SELECT id, pk, namespace, tags, deleted_at FROM memories WHERE deleted_at IS NOT NULL "
        "AND id IN (SELECT value FROM json_each(?))",
        (json.dumps([p.id for p in live]),),
    )
    deleted = {str(r["id"]): r for r in rows}
    candidates = [p for p in live if p.id in deleted]
    back = await existing_rows(db, [p.key for p in candidates])
    revived = [p for p in candidates if p.key not in back]
    stamp = now()
    for p in revived:
        row = deleted[p.id]
        await db.execute("UPDATE memories SET deleted_at = NULL WHERE pk = ?", (row["pk"],))
        await db.executemany(
            "INSERT OR IGNORE INTO memory_tags (namespace, tag, memory_pk) VALUES (?, ?, ?)",
            [(row["namespace"], t, row["pk"]) for t in json.loads(row["tags"])],
        )
    deleted_at = {mid: r["deleted_at"] for mid, r in deleted.items()}
    await record(db, import_restores([p.id for p in revived], deleted_at, stamp))
    return revived


async def _not_stored(db: Database, items: list[Pending]) -> list[Pending]:
    """Items whose id and content are both new; an id taken by other content is a conflict.
    Hold ``db.lock``."""
    taken = await taken_ids(db, [p.id for p in items])
    for p in items:
        if p.id in taken and taken[p.id] != p.key:
            raise MemoryConflictError(f"id {p.id} is already used by a different memory")
    same_content = await existing_rows(db, [p.key for p in items if p.deleted_at is None])
    return [
        p
        for p in items
        if p.id not in taken and (p.deleted_at is not None or p.key not in same_content)
    ]
