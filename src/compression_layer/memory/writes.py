"""Write paths of the memory store: batched store with de-duplication, update, delete, import.

Every write is one ``BEGIN IMMEDIATE`` transaction taken under the store's asyncio lock, so a
crash (even SIGKILL) leaves either all of a batch or none of it. The slow parts (compressing,
embedding) run before the transaction, in worker threads; the exact-duplicate check is repeated
inside the transaction because another process may have written meanwhile.
"""

from __future__ import annotations

import asyncio
import json
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
from compression_layer.memory.search import meaning_differences
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
    """De-duplicate, compress, embed and write a validated batch; one Memory per input.

    Nothing asked for is dropped without a word: an item whose content is already stored comes
    back as ``existing`` with that memory's id, and the tags and metadata it brought are merged
    into that memory (``notes`` says what was added).
    """
    if not pending:
        return []
    firsts: dict[Key, Pending] = {}
    repeat_notes: dict[int, list[str]] = {}
    for p in pending:
        first = firsts.setdefault(key(p), p)
        if first is not p:
            repeat_notes[id(p)] = absorb_labels(first, p)
    async with store._lock:
        before = await existing_rows(store, firsts)
    todo = [p for k, p in firsts.items() if k not in before]
    # Labels to merge into stored duplicates; the merge re-reads the row in the write
    # transaction (a row deleted meanwhile keeps the answer read here, as before).
    relabel = [firsts[k] for k, row in before.items() if _adds_labels(row, firsts[k])]
    vectors: Vectors = {}
    if todo:
        vectors = await _compress_and_embed(store, todo, compress)
    final = {k: row_to_memory(r, "existing") for k, r in before.items()}
    if todo or relabel:
        async with store._lock:
            final.update(await _write_batch(store, todo, relabel, vectors))
    results: list[Memory] = []
    for p in pending:
        memory = final[key(p)]
        if p is not firsts[key(p)] and memory.status == "created":
            notes = repeat_notes.get(id(p), [])
            memory = memory.model_copy(update={"status": "existing", "notes": notes})
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
    store: MemoryStore, todo: list[Pending], relabel: list[Pending], vectors: Vectors
) -> dict[Key, Memory]:
    """Write ``todo`` (new content) and merge the labels of ``relabel`` (content already stored)."""
    out: dict[Key, Memory] = {}
    async with transaction(store):
        by_key = {key(p): p for p in [*todo, *relabel]}
        again = await existing_rows(store, by_key)
        for k, row in again.items():
            p = by_key[k]
            out[k] = await _relabel(store, row, p.tags, p.metadata_json, "existing")
        fresh = [p for p in todo if key(p) not in again]
        accepted, aliases, labels = await _near_duplicates(store, fresh, vectors)
        kept = {
            pk: await _relabel(store, row, tags, meta, "near_duplicate_skipped")
            for pk, (row, tags, meta) in labels.items()
        }
        await write_rows(store, accepted, vectors)
    update_cache(store, accepted, vectors)
    final_ids = {id(p) for p in accepted}
    for p in accepted:
        out[key(p)] = p.to_memory()
    for k, (target, status, notes) in aliases.items():
        while isinstance(target, Pending) and id(target) not in final_ids:
            target = aliases[key(target)][0]
        memory = target.to_memory() if isinstance(target, Pending) else kept[target]
        changes: dict[str, Any] = {"notes": [*notes, *memory.notes]}
        if status is not None:
            changes["status"] = status
        out[k] = memory.model_copy(update=changes)
    return out


def merge_labels(
    old_tags: list[str], old_meta: str, new_tags: list[str], new_meta: str
) -> tuple[list[str], str, list[str]]:
    """Tags (old first, then new ones) and metadata JSON (new keys win) of a merge, and notes
    saying what the new side added; no notes means nothing changed."""
    tags = old_tags + [t for t in new_tags if t not in old_tags]
    before, after = json.loads(old_meta), json.loads(new_meta)
    changed = [
        k
        for k, v in after.items()
        if k not in before or json.dumps(before[k], sort_keys=True) != json.dumps(v, sort_keys=True)
    ]
    notes: list[str] = []
    if len(tags) > len(old_tags):
        notes.append("tags added: " + ", ".join(tags[len(old_tags) :]))
    if changed:
        notes.append("metadata keys set: " + ", ".join(changed))
    merged = json.dumps({**before, **after}, ensure_ascii=False) if changed else old_meta
    return tags, merged, notes


def absorb_labels(target: Pending, p: Pending) -> list[str]:
    """Merge ``p``'s tags and metadata into ``target`` (about to be written); the notes."""
    target.tags, target.metadata_json, notes = merge_labels(
        target.tags, target.metadata_json, p.tags, p.metadata_json
    )
    return notes


def _adds_labels(row: Any, p: Pending) -> bool:
    return bool(merge_labels(json.loads(row[13]), row[14], p.tags, p.metadata_json)[2])


async def _relabel(
    store: MemoryStore,
    row: Any,
    tags: list[str],
    metadata_json: str,
    status: StoreStatus,
) -> Memory:
    """Merge tags and metadata into stored memory ``row``; inside a transaction."""
    memory = row_to_memory(row, status)
    merged_tags, merged_meta, notes = merge_labels(memory.tags, row[14], tags, metadata_json)
    if notes:
        stamp = now()
        await store._conn.execute(
            "UPDATE memories SET tags = ?, metadata = ?, updated_at = ? WHERE pk = ?",
            (json.dumps(merged_tags, ensure_ascii=False), merged_meta, stamp, row[0]),
        )
        await store._conn.executemany(
            "INSERT OR IGNORE INTO memory_tags (memory_pk, tag) VALUES (?, ?)",
            [(row[0], t) for t in merged_tags],
        )
        memory = memory.model_copy(
            update={"tags": merged_tags, "metadata": json.loads(merged_meta), "updated_at": stamp}
        )
    return memory.model_copy(update={"notes": notes})


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
    new.tags, new.metadata_json, _ = merge_labels(old_tags, old_meta, new.tags, new.metadata_json)
    new.updated_at = now()


_NEAR_CANDIDATES = 8  # stored memories above the threshold checked per new item, best first


async def _rows_by_pk(store: MemoryStore, pks: set[int]) -> dict[int, Any]:
    if not pks:
        return {}
    async with store._conn.execute(
        f"SELECT {COLUMNS} FROM memories WHERE pk IN (SELECT value FROM json_each(?))",
        (json.dumps(sorted(pks)),),
    ) as cur:
        return {int(r[0]): r for r in await cur.fetchall()}


def _twin(
    p: Pending,
    vec: npt.NDArray[np.float32],
    slots: list[Pending],
    slot_vecs: list[npt.NDArray[np.float32]],
    stored: list[tuple[int, float]],
    claimed: dict[int, int],
    rows: Mapping[int, Any],
    threshold: float,
) -> tuple[int | None, int | None] | None:
    """The most similar text above ``threshold`` that ``p`` is a near-duplicate of, as (slot in
    this batch, None) or (None, pk of a stored memory); None when there is none.

    Similar is not enough: a text that differs in a fact or a meaning operator ("is not
    allergic", "at 4pm", "may attend") is a correction or a new statement and must be kept.
    """
    found: list[tuple[float, int, int | None, int | None]] = []
    if slots:
        sims = np.stack(slot_vecs) @ vec
        found += [(float(sims[s]), 0, s, None) for s in np.flatnonzero(sims >= threshold).tolist()]
    for pk, sim in stored:
        slot = claimed.get(pk)  # a stored memory this batch already rewrites: compare the rewrite
        found.append((sim, 1, slot, None if slot is not None else pk))
    for _, _, at, stored_pk in sorted(found, key=lambda c: (-c[0], c[1])):
        if at is not None:
            text = slots[at].content
        elif stored_pk is not None and stored_pk in rows:
            text = rows[stored_pk][3]
        else:
            continue
        if not meaning_differences(p.content, text):
            return at, stored_pk
    return None


Alias = tuple[Pending | int, StoreStatus | None, list[str]]
Labels = dict[int, tuple[Any, list[str], str]]


async def _near_duplicates(
    store: MemoryStore, fresh: list[Pending], vectors: Vectors
) -> tuple[list[Pending], dict[Key, Alias], Labels]:
    """Apply ``near_duplicate_policy``: which items to write, where the others went (a pending
    item, or the pk of a stored memory) and the labels to merge into stored memories."""
    policy = store.settings.near_duplicate_policy
    aliases: dict[Key, Alias] = {}
    labels: Labels = {}
    if policy == "keep" or not fresh:
        return list(fresh), aliases, labels
    threshold = store.settings.near_duplicate_threshold
    accepted: list[Pending] = []
    groups: dict[str, list[Pending]] = {}
    for p in fresh:
        groups.setdefault(p.namespace, []).append(p)
    for ns, items in groups.items():
        matrix = np.stack([vectors[p.embed_hash] for p in items])
        index = await store._index(ns)
        stored: list[list[tuple[int, float]]] = [[] for _ in items]
        if index is not None:
            stored = await asyncio.to_thread(index.above, matrix, threshold, _NEAR_CANDIDATES)
        rows = await _rows_by_pk(store, {pk for near in stored for pk, _ in near})
        slots: list[Pending] = []
        slot_vecs: list[npt.NDArray[np.float32]] = []
        claimed: dict[int, int] = {}  # pk of a stored memory -> slot already updating it
        for j, p in enumerate(items):
            vec = matrix[j]
            twin = _twin(p, vec, slots, slot_vecs, stored[j], claimed, rows, threshold)
            if twin is None:
                slots.append(p)
                slot_vecs.append(vec)
                continue
            slot, pk = twin
            if policy == "skip" and slot is not None:
                aliases[key(p)] = (
                    slots[slot],
                    "near_duplicate_skipped",
                    absorb_labels(slots[slot], p),
                )
            elif policy == "skip" and pk is not None:
                row, tags, meta = labels.get(pk, (rows[pk], json.loads(rows[pk][13]), rows[pk][14]))
                tags, meta, _ = merge_labels(tags, meta, p.tags, p.metadata_json)
                labels[pk] = (row, tags, meta)
                aliases[key(p)] = (pk, "near_duplicate_skipped", [])
            elif slot is not None:
                prev = slots[slot]
                status: StoreStatus = "near_duplicate_updated" if prev.pk else "created"
                _merge_into(
                    p, prev.id, prev.pk, prev.created_at, prev.tags, prev.metadata_json, status
                )
                aliases[key(prev)] = (p, None, [])
                slots[slot], slot_vecs[slot] = p, vec
            elif pk is not None:
                old = row_to_memory(rows[pk])
                _merge_into(
                    p, old.id, pk, old.created_at, old.tags, rows[pk][14], "near_duplicate_updated"
                )
                claimed[pk] = len(slots)
                slots.append(p)
                slot_vecs.append(vec)
        accepted.extend(slots)
    return accepted, aliases, labels


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
