"""The batched store path: de-duplicate, compress, embed, write in one transaction.

Every write is one ``BEGIN IMMEDIATE`` transaction taken under the database lock, so a crash
(even SIGKILL) leaves either all of a batch or none of it. The slow parts (compressing,
embedding) run before the transaction, in worker threads; the exact-duplicate check is repeated
inside the transaction because another process may have written meanwhile. The steps around
the transaction are ``batch.BatchWriter``'s, shared with Postgres.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import numpy.typing as npt

from compression_layer.memory.backend import VectorMap
from compression_layer.memory.batch import BatchWriter
from compression_layer.memory.db import Database, Row
from compression_layer.memory.dedup import near_duplicates
from compression_layer.memory.pending import (
    Compressor,
    Key,
    Pending,
    embed_text,
)
from compression_layer.memory.rows import existing_rows, relabel, write_rows
from compression_layer.memory.types import Memory
from compression_layer.memory.validate import sha256
from compression_layer.memory.vectors import Vectors
from compression_layer.settings import MemorySettings


class Writer(BatchWriter):
    """What a write needs: the database, the store's vectors, its settings and compressor."""

    def __init__(
        self, db: Database, vectors: Vectors, settings: MemorySettings, compressor: Compressor
    ) -> None:
        super().__init__(settings, compressor)
        self.db = db
        self.vectors = vectors
        self._warm = False

    async def embed(self, items: Sequence[Pending]) -> VectorMap:
        source = self.settings.embed_source
        return await self.vectors.lookup(
            self.db, {p.embed_hash: embed_text(p, source) for p in items}
        )

    async def stored(self, keys: Iterable[Key]) -> dict[Key, Row]:
        async with self.db.lock:
            return await existing_rows(self.db, keys)

    async def compress_and_embed(self, todo: list[Pending], compress: bool) -> VectorMap:
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

    async def write_batch(
        self, todo: list[Pending], relabels: list[Pending], vectors: VectorMap
    ) -> dict[Key, Memory]:
        db = self.db
        out: dict[Key, Memory] = {}
        async with db.lock:
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
