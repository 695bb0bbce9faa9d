"""The batched store path as both backends' writers take it: repeats within a batch folded into
their first, content already stored answered as ``existing`` (its new labels merged), the rest
compressed and embedded before the write transaction, one answer per item in order.

``BatchWriter`` holds these steps; a backend's writer (``writes.Writer``, ``postgres.writes
.PgWriter``) adds how it reads stored rows, embeds and writes a batch in one transaction.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

from compression_layer.memory.backend import VectorMap
from compression_layer.memory.pending import (
    Compressor,
    Key,
    Pending,
    absorb_labels,
    apply_compression,
    compress_items,
    merge_labels,
    set_embed_hash,
)
from compression_layer.memory.rows import decoded, row_to_memory
from compression_layer.memory.sql import RowLike
from compression_layer.memory.types import Memory
from compression_layer.settings import MemorySettings


class BatchWriter:
    """The steps of a batched store that do not depend on the database (see module)."""

    scores_batches = True
    """Whether ``prepare`` hands a batch to the compressor at once (``compress_items``: its
    prose scored in one encoder pass) or compresses one memory at a time."""

    def __init__(self, settings: MemorySettings, compressor: Compressor) -> None:
        self.settings = settings
        self.compressor = compressor

    async def prepare(self, items: Sequence[Pending], compress: bool) -> None:
        """Compress (worker thread; see ``scores_batches``) and hash the embedded text of each
        item."""
        compressor = self.compressor if compress else None
        source = self.settings.embed_source

        def work() -> None:
            if self.scores_batches:
                compress_items(items, compressor)
            else:
                for item in items:
                    apply_compression(item, compressor)
            for item in items:
                set_embed_hash(item, source)

        await asyncio.to_thread(work)

    async def embed(self, items: Sequence[Pending]) -> VectorMap:
        """Vectors of the items' embedded texts (prepared), by embed hash."""
        raise NotImplementedError

    async def stored(self, keys: Iterable[Key]) -> Mapping[Key, RowLike]:
        """Live rows already stored for these keys (outside the write transaction)."""
        raise NotImplementedError

    async def compress_and_embed(self, todo: list[Pending], compress: bool) -> VectorMap:
        await self.prepare(todo, compress)
        return await self.embed(todo)

    async def write_batch(
        self, todo: list[Pending], relabels: list[Pending], vectors: VectorMap
    ) -> dict[Key, Memory]:
        """Write ``todo`` (new content) and merge the labels of ``relabels`` (content already
        stored) in one transaction; each key's Memory."""
        raise NotImplementedError

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
        before = await self.stored(firsts)
        todo = [p for k, p in firsts.items() if k not in before]
        # Labels to merge into stored duplicates; the merge re-reads the row in the write
        # transaction (a row deleted meanwhile keeps the answer read here, as before).
        relabels = [firsts[k] for k, row in before.items() if adds_labels(row, firsts[k])]
        vectors: VectorMap = {}
        if todo:
            vectors = await self.compress_and_embed(todo, compress)
        final = {k: row_to_memory(r, "existing") for k, r in before.items()}
        if todo or relabels:
            final.update(await self.write_batch(todo, relabels, vectors))
        results: list[Memory] = []
        for p in pending:
            memory = final[p.key]
            if p is not firsts[p.key] and memory.status == "created":
                notes = repeat_notes.get(id(p), [])
                memory = memory.model_copy(update={"status": "existing", "notes": notes})
            results.append(memory)
        return results


def metadata_text(value: object) -> str:
    """A metadata column's value as JSON text (SQLite stores text; Postgres' jsonb decodes)."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def adds_labels(row: RowLike, p: Pending) -> bool:
    """Whether ``p`` brings tags or metadata the stored ``row`` lacks."""
    tags = list(decoded(row["tags"]))
    return bool(merge_labels(tags, metadata_text(row["metadata"]), p.tags, p.metadata_json)[2])


class Openable(Protocol):
    def check_open(self) -> None: ...


class Modelled(Protocol):
    @property
    def model(self) -> str: ...


class WriterBackend:
    """What both backends (``backend.Backend``) hold alike: a database, its vectors and a
    writer, whose settings are those in force and whose ``store`` is the batched store."""

    db: Openable
    vectors: Modelled
    writer: BatchWriter

    def __init__(self, db: Openable, vectors: Modelled, writer: BatchWriter) -> None:
        self.db = db
        self.vectors = vectors
        self.writer = writer

    @property
    def embed_model(self) -> str:
        return self.vectors.model

    @property
    def settings(self) -> MemorySettings:
        return self.writer.settings

    @settings.setter
    def settings(self, value: MemorySettings) -> None:
        self.writer.settings = value

    def check_open(self) -> None:
        self.db.check_open()

    async def store(self, pending: list[Pending], compress: bool) -> list[Memory]:
        return await self.writer.store(pending, compress)
