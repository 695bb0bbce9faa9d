"""Changing and removing stored memories: update, delete, delete a namespace.

Each is one transaction under the database lock; a new content is compressed and embedded
before it, outside the lock.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from compression_layer.memory.db import Database
from compression_layer.memory.errors import MemoryConflictError, MemoryNotFoundError
from compression_layer.memory.pending import Pending, now
from compression_layer.memory.rows import (
    drop_orphan_vector,
    row_by_id,
    row_to_memory,
    set_labels,
    write_rows,
)
from compression_layer.memory.types import Memory
from compression_layer.memory.validate import (
    check_content,
    check_id,
    check_metadata,
    check_namespace,
    check_tags,
    sha256,
)
from compression_layer.memory.vectors import Vectors
from compression_layer.memory.writes import VectorMap, Writer


async def update(
    writer: Writer,
    memory_id: str,
    content: str | None,
    tags: Iterable[str] | None,
    metadata: Mapping[str, Any] | None,
    compress: bool,
) -> Memory:
    """See ``MemoryStore.update``."""
    db = writer.db
    check_id(memory_id)
    new_tags = check_tags(tags) if tags is not None else None
    new_meta = check_metadata(metadata) if metadata is not None else None
    max_bytes = writer.settings.max_content_bytes
    text = check_content(content, max_bytes) if content is not None else None
    async with db.lock:
        row = await row_by_id(db, memory_id)
    if row is None:
        raise MemoryNotFoundError(memory_id)
    old = row_to_memory(row)
    p = Pending(
        id=old.id,
        namespace=old.namespace,
        content=old.content,
        content_hash=old.content_hash,
        tags=new_tags if new_tags is not None else old.tags,
        metadata_json=new_meta or json.dumps(old.metadata, ensure_ascii=False),
        created_at=old.created_at,
        updated_at=now(),
        pk=int(row["pk"]),
    )
    vectors: VectorMap = {}
    changed = text is not None and sha256(text) != old.content_hash
    if changed and text is not None:
        p.content, p.content_hash = text, sha256(text)
        await writer.prepare([p], compress)
        vectors = await writer.embed([p])
    async with db.lock:
        async with writer.vectors.transaction(db):
            if await row_by_id(db, memory_id) is None:
                raise MemoryNotFoundError(memory_id)
            if changed:
                clash = await db.fetchone(
                    "SELECT id FROM memories WHERE namespace = ? AND content_hash = ? AND id != ?",
                    (p.namespace, p.content_hash, p.id),
                )
                if clash:
                    raise MemoryConflictError(
                        f"memory {clash['id']} in namespace {p.namespace!r} already has this "
                        "content"
                    )
                await write_rows(db, writer.vectors.model, [p], vectors)
            else:
                await set_labels(db, int(row["pk"]), p.tags, p.metadata_json, p.updated_at)
            row = await row_by_id(db, memory_id)
        if changed:
            writer.cache([p], vectors)
    assert row is not None  # read in the transaction that just found it
    return row_to_memory(row).model_copy(update={"notes": p.notes})


async def delete(db: Database, vectors: Vectors, memory_id: str) -> Memory:
    """See ``MemoryStore.delete``."""
    check_id(memory_id)
    async with db.lock:
        async with vectors.transaction(db):
            row = await row_by_id(db, memory_id)
            if row is None:
                raise MemoryNotFoundError(memory_id)
            await db.execute("DELETE FROM memories WHERE pk = ?", (row["pk"],))
            await drop_orphan_vector(db, row["embed_hash"], row["embed_model"])
        vectors.remove(row["namespace"], int(row["pk"]))
    return row_to_memory(row)


async def delete_namespace(db: Database, vectors: Vectors, namespace: str) -> int:
    """See ``MemoryStore.delete_namespace``."""
    check_namespace(namespace)
    async with db.lock:
        async with vectors.transaction(db):
            row = await db.fetchone(
                "SELECT COUNT(*) AS n FROM memories WHERE namespace = ?", (namespace,)
            )
            await db.execute("DELETE FROM memories WHERE namespace = ?", (namespace,))
            await db.execute(
                "DELETE FROM embeddings WHERE NOT EXISTS (SELECT 1 FROM memories m WHERE "
                "m.embed_hash = embeddings.text_hash AND m.embed_model = embeddings.model)"
            )
        vectors.forget(namespace)
    return int(row["n"]) if row else 0
