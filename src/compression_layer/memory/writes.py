"""The batched store path: de-duplicate, compress, embed, write in one transaction.

Every write is one ``BEGIN IMMEDIATE`` transaction taken under the database lock, so a crash
(even SIGKILL) leaves either all of a batch or none of it. The slow parts (compressing,
embedding) run before the transaction, in worker threads; the exact-duplicate check is repeated
inside the transaction because another process may have written meanwhile.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from compression_layer.memory.db import Database, Row
from compression_layer.memory.dedup import near_duplicates
from compression_layer.memory.filters import NO_SCOPE, Scope
from compression_layer.memory.pending import (
    Compressor,
    Key,
    Pending,
    absorb_labels,
    compress_items,
    embed_text,
    item_to_pending,
    merge_labels,
    set_embed_hash,
)
from compression_layer.memory.rows import existing_rows, relabel, row_to_memory, write_rows
from compression_layer.memory.types import Memory
from compression_layer.memory.validate import sha256
from compression_layer.memory.vectors import Vectors
from compression_layer.settings import MemorySettings

VectorMap = dict[str, npt.NDArray[np.float32]]


class Writer:
    """What a write needs: the database, the store's vectors, its settings and compressor."""

    def __init__(
        self, db: Database, vectors: Vectors, settings: MemorySettings, compressor: Compressor
    ) -> None:
        self.db = db
        self.vectors = vectors
        self.settings = settings
        self.compressor = compressor
        self._warm = False

    def to_pending(
        self,
        item: str | Mapping[str, Any],
        namespace: str,
        tags: Iterable[str],
        metadata: Mapping[str, Any] | None,
        scope: Scope = NO_SCOPE,
    ) -> Pending:
        """Validate one item of ``store_many`` (a string, or a mapping overriding the defaults)."""
        return item_to_pending(
            item, namespace, tags, metadata, self.settings.max_content_bytes, scope
        )

    async def prepare(self, items: Sequence[Pending], compress: bool) -> None:
        """Compress (worker thread) and hash the embedded text of each item."""
        compressor = self.compressor if compress else None
        source = self.settings.embed_source

        def work() -> None:
            compress_items(items, compressor)
            for item in items:
                set_embed_hash(item, source)

        await asyncio.to_thread(work)

    async def embed(self, items: Sequence[Pending]) -> VectorMap:
        """Vectors of the items' embedded texts (prepared), by embed hash."""
        source = self.settings.embed_source
        return await self.vectors.lookup(
            self.db, {p.embed_hash: embed_text(p, source) for p in items}
        )

    async def store(self, pending: list[Pending], compress: bool) -> list[Memory]:
        """De-duplicate, compress, embed and write a validated batch; one Memory per input.

        Nothing asked for is dropped without a word: an item whose content is already stored
        comes back as ``existing`` with that memory's id, and the tags and metadata it brought
        are merged into that memory (``notes`` says what was added).
        """
        if not pending:
            return []
        firsts: dict[Key, Pending] = {}
        repeat_notes: dict[int, list[str]] = {}
        for p in pending:
            first = firsts.setdefault(p.key, p)
            if first is not p:
                repeat_notes[id(p)] = absorb_labels(first, p)
        async with self.db.lock:
            before = await existing_rows(self.db, firsts)
        todo = [p for k, p in firsts.items() if k not in before]
        # Labels to merge into stored duplicates; the merge re-reads the row in the write
        # transaction (a row deleted meanwhile keeps the answer read here, as before).
        relabels = [firsts[k] for k, row in before.items() if _adds_labels(row, firsts[k])]
        vectors: VectorMap = {}
        if todo:
            vectors = await self._compress_and_embed(todo, compress)
        final = {k: row_to_memory(r, "existing") for k, r in before.items()}
        if todo or relabels:
            async with self.db.lock:
                final.update(await self._write_batch(todo, relabels, vectors))
        results: list[Memory] = []
        for p in pending:
            memory = final[p.key]
            if p is not firsts[p.key] and memory.status == "created":
                notes = repeat_notes.get(id(p), [])
                memory = memory.model_copy(update={"status": "existing", "notes": notes})
            results.append(memory)
        return results

    async def _compress_and_embed(self, todo: list[Pending], compress: bool) -> VectorMap:
        """Compress and embed a batch; when the original is what gets embedded, both run at once
        (each in a worker thread; torch and onnxruntime release the GIL)."""
        if self.settings.embed_source != "original":
            await self.prepare(todo, compress)
            return await self.embed(todo)
        texts = {sha256(p.content): p.content for p in todo}
        if compress and not self._warm:
            # The first compression and embedding of a process load models and import their
            # libraries, and importing is not thread-safe everywhere (transformers resolves
            # names lazily): one after the other once, side by side from then on.
            await self.prepare(todo, compress)
            vectors = await self.vectors.lookup(self.db, texts)
            self._warm = True
            return vectors
        _, vectors = await asyncio.gather(
            self.prepare(todo, compress), self.vectors.lookup(self.db, texts)
        )
        return vectors

    async def _write_batch(
        self, todo: list[Pending], relabels: list[Pending], vectors: VectorMap
    ) -> dict[Key, Memory]:
        """Write ``todo`` (new content), merge the labels of ``relabels`` (content already
        stored); hold ``db.lock``."""
        db = self.db
        out: dict[Key, Memory] = {}
        async with self.vectors.transaction(db):
            by_key = {p.key: p for p in [*todo, *relabels]}
            again = await existing_rows(db, by_key)
            for k, row in again.items():
                p = by_key[k]
                out[k] = await relabel(db, row, p.tags, p.metadata_json, "existing")
            fresh = [p for p in todo if p.key not in again]
            decided = await near_duplicates(db, self.vectors, self.settings, fresh, vectors)
            kept = {
                pk: await relabel(db, row, tags, meta, "near_duplicate_skipped")
                for pk, (row, tags, meta) in decided.labels.items()
            }
            await write_rows(db, self.vectors.model, decided.accepted, vectors)
        self.cache(decided.accepted, vectors)
        out.update(decided.results(kept))
        return out

    def cache(
        self, items: Sequence[Pending], vectors: Mapping[str, npt.NDArray[np.float32]]
    ) -> None:
        """Keep cached namespace matrices in step with rows we just committed."""
        for p in items:
            if p.pk is not None:
                self.vectors.upsert(p.namespace, p.pk, vectors[p.embed_hash])


def _adds_labels(row: Row, p: Pending) -> bool:
    return bool(merge_labels(json.loads(row["tags"]), row["metadata"], p.tags, p.metadata_json)[2])
