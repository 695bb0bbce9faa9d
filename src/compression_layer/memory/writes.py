"""Write paths of the memory store: batched store with de-duplication, update, delete, import.

Every write is one ``BEGIN IMMEDIATE`` transaction taken under the store's asyncio lock, so a
crash (even SIGKILL) leaves either all of a batch or none of it. The slow parts (compressing,
embedding) run before the transaction, in worker threads; the exact-duplicate check is repeated
inside the transaction because another process may have written meanwhile.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from compression_layer.memory.errors import (
    MemoryConflictError,
    MemoryInputError,
    MemoryNotFoundError,
)
from compression_layer.memory.rows import (
    COLUMNS,
    INSERT_SQL,
    Pending,
    embed_text,
    now,
    row_to_memory,
)
from compression_layer.memory.types import Memory, StoreStatus
from compression_layer.memory.validate import (
    check_content,
    check_id,
    check_metadata,
    check_namespace,
    check_tags,
    sha256,
)

if TYPE_CHECKING:
    from compression_layer.memory.store import MemoryStore

Key = tuple[str, str]
Vectors = dict[str, npt.NDArray[np.float32]]
_ITEM_KEYS = frozenset({"content", "namespace", "tags", "metadata"})

UPDATE_SQL = (
    "UPDATE memories SET content = ?, compressed = ?, engine = ?, adapter = ?, domain = ?, "
    "tokens_original = ?, tokens_compressed = ?, content_hash = ?, embed_hash = ?, "
    "embed_model = ?, tags = ?, metadata = ?, updated_at = ? WHERE pk = ?"
)
DROP_ORPHAN_SQL = (
    "DELETE FROM embeddings WHERE text_hash = ? AND model = ? AND NOT EXISTS "
    "(SELECT 1 FROM memories WHERE embed_hash = ? AND embed_model = ?)"
)


def key(p: Pending) -> Key:
    return (p.namespace, p.content_hash)


def to_pending(
    store: MemoryStore,
    item: str | Mapping[str, Any],
    namespace: str,
    tags: Iterable[str],
    metadata: Mapping[str, Any] | None,
) -> Pending:
    """Validate one item of ``store_many`` (a string, or a mapping overriding the defaults)."""
    if isinstance(item, str):
        return store._pending(item, namespace, tags, metadata)
    if not isinstance(item, Mapping):
        raise MemoryInputError(f"an item must be a string or a mapping, got {type(item).__name__}")
    unknown = set(item) - _ITEM_KEYS
    if unknown:
        raise MemoryInputError(f"unknown item keys: {', '.join(sorted(map(str, unknown)))}")
    return store._pending(
        item.get("content"),
        item.get("namespace", namespace),
        item.get("tags", tags),
        item.get("metadata", metadata),
    )


@asynccontextmanager
async def transaction(store: MemoryStore) -> AsyncIterator[None]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back on any error; hold ``store._lock``."""
    conn = store._conn
    await conn.execute("BEGIN IMMEDIATE")
    try:
        await store._sync_cache()
        yield
        await conn.execute("COMMIT")
    except BaseException:
        # Cancelled while COMMIT was in flight, the rows may be in: drop cached vectors so the
        # next search reloads them (our own commits do not bump data_version).
        store._indexes.clear()
        if conn.in_transaction:
            await conn.execute("ROLLBACK")
        raise


async def existing_rows(store: MemoryStore, keys: Iterable[Key]) -> dict[Key, Any]:
    """Rows already stored for these (namespace, content_hash) keys."""
    by_ns: dict[str, list[str]] = {}
    for ns, h in keys:
        by_ns.setdefault(ns, []).append(h)
    found: dict[Key, Any] = {}
    for ns, hashes in by_ns.items():
        for start in range(0, len(hashes), 500):
            async with store._conn.execute(
                f"SELECT {COLUMNS} FROM memories WHERE namespace = ? AND content_hash IN "
                "(SELECT value FROM json_each(?))",
                (ns, json.dumps(hashes[start : start + 500])),
            ) as cur:
                for row in await cur.fetchall():
                    found[(row[2], row[10])] = row
    return found


async def store_pending(store: MemoryStore, pending: list[Pending], compress: bool) -> list[Memory]:
    """De-duplicate, compress, embed and write a validated batch; one Memory per input."""
    if not pending:
        return []
    firsts: dict[Key, Pending] = {}
    for p in pending:
        firsts.setdefault(key(p), p)
    async with store._lock:
        before = await existing_rows(store, firsts)
    todo = [p for k, p in firsts.items() if k not in before]
    vectors: Vectors = {}
    if todo:
        vectors = await _compress_and_embed(store, todo, compress)
    final = {k: row_to_memory(r, "existing") for k, r in before.items()}
    if todo:
        async with store._lock:
            final.update(await _write_batch(store, todo, vectors))
    results: list[Memory] = []
    for p in pending:
        memory = final[key(p)]
        if p is not firsts[key(p)] and memory.status == "created":
            memory = memory.model_copy(update={"status": "existing"})
        results.append(memory)
    return results


async def _compress_and_embed(store: MemoryStore, todo: list[Pending], compress: bool) -> Vectors:
    """Compress and embed a batch; when the original is what gets embedded, both run at once
    (each in a worker thread; torch and onnxruntime release the GIL)."""
    source = store.settings.embed_source
    if source != "original":
        await store._prepare_texts(todo, compress)
        return await store._vectors({p.embed_hash: embed_text(p, source) for p in todo})
    texts = {sha256(p.content): p.content for p in todo}
    _, vectors = await asyncio.gather(store._prepare_texts(todo, compress), store._vectors(texts))
    return vectors


async def _write_batch(
    store: MemoryStore, todo: list[Pending], vectors: Vectors
) -> dict[Key, Memory]:
    out: dict[Key, Memory] = {}
    async with transaction(store):
        again = await existing_rows(store, [key(p) for p in todo])
        out.update({k: row_to_memory(r, "existing") for k, r in again.items()})
        fresh = [p for p in todo if key(p) not in again]
        accepted, aliases = await _near_duplicates(store, fresh, vectors)
        await write_rows(store, accepted, vectors)
    update_cache(store, accepted, vectors)
    final_ids = {id(p) for p in accepted}
    for p in accepted:
        out[key(p)] = p.to_memory()
    for k, (target, status) in aliases.items():
        while isinstance(target, Pending) and id(target) not in final_ids:
            target = aliases[key(target)][0]
        memory = target.to_memory() if isinstance(target, Pending) else target
        out[k] = memory if status is None else memory.model_copy(update={"status": status})
    return out


_FACT = re.compile(r"\S*\d\S*")


def same_facts(a: str, b: str) -> bool:
    """Whether two texts hold the same digit-bearing tokens (times, dates, amounts, versions).

    MiniLM barely sees numbers: "the key expires on 2024-05-01" and "... 2024-06-01" have a
    cosine of 0.998. Treating those as duplicates would drop the newer fact, so a near-duplicate
    must also agree on every such token.
    """

    def facts(text: str) -> list[str]:
        return sorted(t.strip(".,;:!?()[]{}\"'").lower() for t in _FACT.findall(text))

    return facts(a) == facts(b)


def _merge_into(
    new: Pending,
    old_id: str,
    old_pk: int | None,
    old_created: str,
    old_tags: list[str],
    old_meta: str,
    status: StoreStatus,
) -> None:
    """``new`` replaces an older memory: it keeps the old id, pk and creation time, and merges
    tags (old first) and metadata (new keys win), so an update never silently drops labels."""
    new.id, new.pk, new.created_at, new.status = old_id, old_pk, old_created, status
    new.tags = old_tags + [t for t in new.tags if t not in old_tags]
    merged = {**json.loads(old_meta), **json.loads(new.metadata_json)}
    new.metadata_json = json.dumps(merged, ensure_ascii=False)
    new.updated_at = now()


async def _near_duplicates(
    store: MemoryStore, fresh: list[Pending], vectors: Vectors
) -> tuple[list[Pending], dict[Key, tuple[Pending | Memory, StoreStatus | None]]]:
    """Apply ``near_duplicate_policy``: which items to write, and where the others went."""
    policy = store.settings.near_duplicate_policy
    aliases: dict[Key, tuple[Pending | Memory, StoreStatus | None]] = {}
    if policy == "keep" or not fresh:
        return list(fresh), aliases
    threshold = store.settings.near_duplicate_threshold
    accepted: list[Pending] = []
    groups: dict[str, list[Pending]] = {}
    for p in fresh:
        groups.setdefault(p.namespace, []).append(p)
    for ns, items in groups.items():
        matrix = np.stack([vectors[p.embed_hash] for p in items])
        index = await store._index(ns)
        if index is not None:
            db_pks, db_sims = await asyncio.to_thread(index.max_similarity, matrix)
        else:
            db_pks = np.full(len(items), -1, dtype=np.int64)
            db_sims = np.full(len(items), -np.inf, dtype=np.float32)
        slots: list[Pending] = []
        slot_vecs: list[npt.NDArray[np.float32]] = []
        claimed: dict[int, int] = {}  # pk of a stored memory -> slot already updating it
        for j, p in enumerate(items):
            vec = matrix[j]
            b_sim, b_slot = -np.inf, -1
            if slots:
                sims = np.stack(slot_vecs) @ vec
                b_slot = int(np.argmax(sims))
                b_sim = float(sims[b_slot])
            db_sim, db_pk = float(db_sims[j]), int(db_pks[j])
            slot: int | None = b_slot if b_sim >= db_sim else claimed.get(db_pk)
            old: Memory | None = None
            if max(db_sim, b_sim) >= threshold and slot is None:
                async with store._conn.execute(
                    f"SELECT {COLUMNS} FROM memories WHERE pk = ?", (db_pk,)
                ) as cur:
                    old = row_to_memory(await cur.fetchone() or ())
            near = max(db_sim, b_sim) >= threshold and same_facts(
                p.content, slots[slot].content if slot is not None else old.content if old else ""
            )
            if not near:
                slots.append(p)
                slot_vecs.append(vec)
                continue
            if policy == "skip":
                target: Pending | Memory | None = slots[slot] if slot is not None else old
                if target is not None:
                    aliases[key(p)] = (target, "near_duplicate_skipped")
            elif slot is not None:
                prev = slots[slot]
                status: StoreStatus = "near_duplicate_updated" if prev.pk else "created"
                _merge_into(
                    p, prev.id, prev.pk, prev.created_at, prev.tags, prev.metadata_json, status
                )
                aliases[key(prev)] = (p, None)
                slots[slot], slot_vecs[slot] = p, vec
            elif old is not None:
                _merge_into(
                    p,
                    old.id,
                    db_pk,
                    old.created_at,
                    old.tags,
                    json.dumps(old.metadata, ensure_ascii=False),
                    "near_duplicate_updated",
                )
                claimed[db_pk] = len(slots)
                slots.append(p)
                slot_vecs.append(vec)
        accepted.extend(slots)
    return accepted, aliases


async def write_rows(store: MemoryStore, items: Sequence[Pending], vectors: Vectors) -> None:
    """Insert new items and update those with a ``pk``; inside a transaction."""
    conn, model = store._conn, store.embed_model
    embeds = {p.embed_hash: vectors[p.embed_hash] for p in items}
    await conn.executemany(
        "INSERT OR IGNORE INTO embeddings (text_hash, model, dim, vector) VALUES (?, ?, ?, ?)",
        [(h, model, int(v.shape[0]), v.astype(np.float32).tobytes()) for h, v in embeds.items()],
    )
    updates = [p for p in items if p.pk is not None]
    inserts = [p for p in items if p.pk is None]
    for p in updates:
        await update_row(store, p)
    if inserts:
        await conn.executemany(INSERT_SQL, [p.params(model) for p in inserts])
        pk_by_id: dict[str, int] = {}
        ids = [p.id for p in inserts]
        for start in range(0, len(ids), 500):
            async with conn.execute(
                "SELECT id, pk FROM memories WHERE id IN (SELECT value FROM json_each(?))",
                (json.dumps(ids[start : start + 500]),),
            ) as cur:
                pk_by_id.update({str(i): int(pk) for i, pk in await cur.fetchall()})
        for p in inserts:
            p.pk = pk_by_id[p.id]
    await conn.executemany(
        "INSERT OR IGNORE INTO memory_tags (memory_pk, tag) VALUES (?, ?)",
        [(p.pk, tag) for p in items for tag in p.tags],
    )


async def update_row(store: MemoryStore, p: Pending) -> None:
    """Rewrite stored memory ``p.pk`` with ``p``'s fields; drop its old vector if now unused."""
    conn, model = store._conn, store.embed_model
    async with conn.execute(
        "SELECT embed_hash, embed_model FROM memories WHERE pk = ?", (p.pk,)
    ) as cur:
        old = await cur.fetchone()
    params = p.params(model)
    await conn.execute(UPDATE_SQL, (*params[2:14], p.updated_at or now(), p.pk))
    await conn.execute("DELETE FROM memory_tags WHERE memory_pk = ?", (p.pk,))
    if old is not None:
        await conn.execute(DROP_ORPHAN_SQL, (old[0], old[1], old[0], old[1]))


def update_cache(store: MemoryStore, items: Sequence[Pending], vectors: Vectors) -> None:
    """Keep cached namespace matrices in step with rows we just committed."""
    for p in items:
        index = store._indexes.get(p.namespace)
        if index is not None and p.pk is not None:
            index.upsert(p.pk, vectors[p.embed_hash])


async def update(
    store: MemoryStore,
    memory_id: str,
    content: str | None,
    tags: Iterable[str] | None,
    metadata: Mapping[str, Any] | None,
    compress: bool,
) -> Memory:
    check_id(memory_id)
    new_tags = check_tags(tags) if tags is not None else None
    new_meta = check_metadata(metadata) if metadata is not None else None
    text = check_content(content, store.settings.max_content_bytes) if content is not None else None
    async with store._lock:
        row = await store._row_by_id(memory_id)
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
        pk=int(row[0]),
    )
    vectors: Vectors = {}
    changed = text is not None and sha256(text) != old.content_hash
    if changed and text is not None:
        p.content, p.content_hash = text, sha256(text)
        await store._prepare_texts([p], compress)
        source = store.settings.embed_source
        vectors = await store._vectors({p.embed_hash: embed_text(p, source)})
    async with store._lock:
        async with transaction(store):
            if await store._row_by_id(memory_id) is None:
                raise MemoryNotFoundError(memory_id)
            if changed:
                async with store._conn.execute(
                    "SELECT id FROM memories WHERE namespace = ? AND content_hash = ? AND id != ?",
                    (p.namespace, p.content_hash, p.id),
                ) as cur:
                    clash = await cur.fetchone()
                if clash:
                    raise MemoryConflictError(
                        f"memory {clash[0]} in namespace {p.namespace!r} already has this content"
                    )
                await write_rows(store, [p], vectors)
            else:
                await store._conn.execute(
                    "UPDATE memories SET tags = ?, metadata = ?, updated_at = ? WHERE pk = ?",
                    (json.dumps(p.tags, ensure_ascii=False), p.metadata_json, p.updated_at, p.pk),
                )
                await store._conn.execute("DELETE FROM memory_tags WHERE memory_pk = ?", (p.pk,))
                await store._conn.executemany(
                    "INSERT INTO memory_tags (memory_pk, tag) VALUES (?, ?)",
                    [(p.pk, t) for t in p.tags],
                )
            row = await store._row_by_id(memory_id)
        if changed:
            update_cache(store, [p], vectors)
    return row_to_memory(row)


async def delete(store: MemoryStore, memory_id: str) -> Memory:
    check_id(memory_id)
    async with store._lock:
        async with transaction(store):
            row = await store._row_by_id(memory_id)
            if row is None:
                raise MemoryNotFoundError(memory_id)
            await store._conn.execute("DELETE FROM memories WHERE pk = ?", (row[0],))
            await store._conn.execute(DROP_ORPHAN_SQL, (row[11], row[12], row[11], row[12]))
        index = store._indexes.get(row[2])
        if index is not None:
            index.remove(int(row[0]))
    return row_to_memory(row)


async def delete_namespace(store: MemoryStore, namespace: str) -> int:
    check_namespace(namespace)
    async with store._lock:
        async with transaction(store):
            async with store._conn.execute(
                "SELECT COUNT(*) FROM memories WHERE namespace = ?", (namespace,)
            ) as cur:
                row = await cur.fetchone()
            await store._conn.execute("DELETE FROM memories WHERE namespace = ?", (namespace,))
            await store._conn.execute(
                "DELETE FROM embeddings WHERE NOT EXISTS (SELECT 1 FROM memories m WHERE "
                "m.embed_hash = embeddings.text_hash AND m.embed_model = embeddings.model)"
            )
        store._indexes.pop(namespace, None)
    return int(row[0]) if row else 0
