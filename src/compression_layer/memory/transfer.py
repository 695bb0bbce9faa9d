"""Lossless import of exported memories (``MemoryStore.export`` / ``import_records``).

A record carries every field of a Memory. Import keeps ids, timestamps and the compressed text
exactly as exported (nothing is recompressed); vectors are derived data, so they are looked up by
text hash and embedded only when this database does not have them yet.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from compression_layer.memory.errors import MemoryConflictError, MemoryInputError
from compression_layer.memory.rows import Pending, embed_text, set_embed_hash
from compression_layer.memory.validate import (
    check_content,
    check_id,
    check_metadata,
    check_namespace,
    check_tags,
    sha256,
)
from compression_layer.memory.writes import existing_rows, key, transaction, write_rows

if TYPE_CHECKING:
    from compression_layer.memory.store import MemoryStore

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
OPTIONAL = ("adapter", "tags", "metadata", "status")


def record_to_pending(store: MemoryStore, record: Mapping[str, Any], line: int) -> Pending:
    """Check one exported record; errors name its (1-based) position."""
    where = f"record {line}"
    if not isinstance(record, Mapping):
        raise MemoryInputError(f"{where}: not a JSON object")
    missing = [f for f in REQUIRED if f not in record]
    unknown = sorted(set(record) - set(REQUIRED) - set(OPTIONAL))
    if missing or unknown:
        raise MemoryInputError(f"{where}: missing {missing or '-'}, unknown {unknown or '-'}")
    try:
        content = check_content(record["content"], store.settings.max_content_bytes)
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
        )
    except MemoryInputError as exc:
        raise MemoryInputError(f"{where}: {exc}") from exc
    set_embed_hash(p, store.settings.embed_source)
    return p


async def import_records(
    store: MemoryStore, records: Sequence[Mapping[str, Any]]
) -> dict[str, int]:
    """See ``MemoryStore.import_records``."""
    items = [record_to_pending(store, r, i) for i, r in enumerate(records, start=1)]
    by_id: dict[str, Pending] = {}
    for p in items:
        seen = by_id.setdefault(p.id, p)
        if seen.content_hash != p.content_hash or seen.namespace != p.namespace:
            raise MemoryConflictError(f"id {p.id} appears twice with different content")
    # Two ids with the same content in one namespace cannot both exist: the first one wins.
    unique = list({key(p): p for p in reversed(by_id.values())}.values())[::-1]
    todo = await _not_stored(store, unique)
    source = store.settings.embed_source
    vectors = await store._vectors({p.embed_hash: embed_text(p, source) for p in todo})
    async with store._lock, transaction(store):
        todo = await _not_stored(store, todo, locked=True)
        await write_rows(store, todo, vectors)
    # Cached matrices would miss the imported rows; they reload on the next search.
    for p in todo:
        store._indexes.pop(p.namespace, None)
    return {"created": len(todo), "existing": len(items) - len(todo)}


async def _not_stored(
    store: MemoryStore, items: list[Pending], *, locked: bool = False
) -> list[Pending]:
    """Items whose id and content are both new; an id taken by other content is a conflict."""
    if not locked:
        async with store._lock:
            return await _not_stored(store, items, locked=True)
    taken: dict[str, tuple[str, str]] = {}
    ids = [p.id for p in items]
    for start in range(0, len(ids), 500):
        async with store._conn.execute(
            "SELECT id, namespace, content_hash FROM memories WHERE id IN "
            "(SELECT value FROM json_each(?))",
            (json.dumps(ids[start : start + 500]),),
        ) as cur:
            taken.update({str(r[0]): (str(r[1]), str(r[2])) for r in await cur.fetchall()})
    for p in items:
        if p.id in taken and taken[p.id] != key(p):
            raise MemoryConflictError(f"id {p.id} is already used by a different memory")
    same_content = await existing_rows(store, [key(p) for p in items])
    return [p for p in items if p.id not in taken and key(p) not in same_content]
