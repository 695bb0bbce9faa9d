"""The batched store path on Postgres: de-duplicate, compress, embed, write in one transaction.

The steps around the transaction are ``batch.BatchWriter``'s, as SQLite's (statuses, notes,
label merges; ``near_duplicate_policy`` through ``dedup.decide``); what differs is how writers
are kept apart: the transaction takes an advisory lock per namespace it writes, so two
processes storing into one namespace run their duplicate checks one after the other and never
both insert one content.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from compression_layer.memory.backend import VectorMap
from compression_layer.memory.batch import BatchWriter, metadata_text
from compression_layer.memory.dedup import NEAR_CANDIDATES, Outcome, decide
from compression_layer.memory.filters import MemoryFilter, Scope
from compression_layer.memory.history import diff
from compression_layer.memory.pending import (
    Compressor,
    Pending,
    embed_text,
    merge_labels,
    now,
)
from compression_layer.memory.postgres.db import Conn, PgDatabase
from compression_layer.memory.postgres.rows import (
    Key,
    existing_rows,
    json_text,
    lock_namespaces,
    record,
    row_state,
    rows_by_pk,
    set_labels,
    write_rows,
)
from compression_layer.memory.postgres.vectors import PgVectors
from compression_layer.memory.rows import row_to_memory
from compression_layer.memory.types import Memory
from compression_layer.settings import MemorySettings


def sqlite_shaped(row: dict[str, Any]) -> dict[str, Any]:
    """A row with tags and metadata as JSON text, as the shared helpers (dedup) read them."""
    return {**row, "tags": json_text(row["tags"]), "metadata": json_text(row["metadata"])}


class PgWriter(BatchWriter):
    """What a write needs: the database, the vectors, the settings and the compressor."""

    def __init__(
        self, db: PgDatabase, vectors: PgVectors, settings: MemorySettings, compressor: Compressor
    ) -> None:
        super().__init__(settings, compressor)
        self.db = db
        self.vectors = vectors

    async def embed(self, items: Sequence[Pending]) -> VectorMap:
        source = self.settings.embed_source
        return await self.vectors.lookup(
            self.db, {p.embed_hash: embed_text(p, source) for p in items}
        )

    async def stored(self, keys: Iterable[Key]) -> dict[Key, dict[str, Any]]:
        async with self.db.connection() as conn:
            return await existing_rows(conn, keys)

    async def write_batch(
        self, todo: list[Pending], relabels: list[Pending], vectors: VectorMap
    ) -> dict[Key, Memory]:
        out: dict[Key, Memory] = {}
        async with self.db.transaction() as conn:
            await lock_namespaces(conn, [p.namespace for p in [*todo, *relabels]])
            by_key = {p.key: p for p in [*todo, *relabels]}
            again = await existing_rows(conn, by_key)
            for k, row in again.items():
                p = by_key[k]
                out[k] = await relabel(conn, row, p.tags, p.metadata_json, "existing")
            fresh = [p for p in todo if p.key not in again]
            decided = await self._near_duplicates(conn, fresh, vectors)
            kept = {
                pk: await relabel(conn, dict(row), tags, meta, "near_duplicate_skipped")
                for pk, (row, tags, meta) in decided.labels.items()
            }
            await write_rows(conn, self.vectors.model, decided.accepted, vectors)
        created = [p for p in decided.accepted if p.status == "created"]
        for p in created:
            self.vectors.grew(p.namespace, 1)
        if created:
            await self._after_growth(created, vectors)
        out.update(decided.results(kept))
        return out

    async def _after_growth(self, created: list[Pending], vectors: VectorMap) -> None:
        """Build the HNSW index in the background once a namespace is large enough."""
        dim = int(vectors[created[0].embed_hash].shape[0])
        async with self.db.connection() as conn:
            sizes = [
                await self.vectors.namespace_size(conn, ns) for ns in {p.namespace for p in created}
            ]
        self.vectors.maybe_build(self.db, dim, max(sizes))

    async def _near_duplicates(self, conn: Conn, fresh: list[Pending], vecs: VectorMap) -> Outcome:
        """``near_duplicate_policy`` over ``fresh``: stored candidates come from pgvector, the
        decision from ``dedup.decide`` (the one SQLite uses)."""
        settings = self.settings
        if settings.near_duplicate_policy == "keep" or not fresh:
            return Outcome(accepted=list(fresh))
        out = Outcome()
        # Within one namespace and scope, as exact duplicates are (SQLite: dedup.near_duplicates).
        groups: dict[tuple[str, Scope], list[Pending]] = {}
        for p in fresh:
            groups.setdefault((p.namespace, p.scope), []).append(p)
        threshold = settings.near_duplicate_threshold
        for (ns, scope), items in groups.items():
            flt = MemoryFilter(user_id=scope[0], agent_id=scope[1], run_id=scope[2])
            matrix = np.stack([vecs[p.embed_hash] for p in items])
            found = await self.vectors.nearest_many(
                conn, ns, [vecs[p.embed_hash] for p in items], NEAR_CANDIDATES, flt
            )
            stored = [[(pk, sim) for pk, sim in near if sim >= threshold] for near in found]
            rows = await rows_by_pk(conn, (pk for near in stored for pk, _ in near))
            shaped = {pk: sqlite_shaped(r) for pk, r in rows.items()}
            out.accepted.extend(decide(items, matrix, stored, shaped, settings, out))  # type: ignore[arg-type]
        return out


async def relabel(
    conn: Conn, row: dict[str, Any], tags: list[str], metadata_json: str, status: Any
) -> Memory:
    """Merge tags and metadata into a stored memory (``row``, either shape); the Memory after,
    with notes saying what was added, and a 'merge' history entry when anything changed."""
    old_tags = row["tags"] if isinstance(row["tags"], list) else json.loads(row["tags"])
    old_meta = metadata_text(row["metadata"])
    merged_tags, merged_meta, notes = merge_labels(old_tags, old_meta, tags, metadata_json)
    plain = {**row, "tags": old_tags, "metadata": json.loads(old_meta)}
    memory = row_to_memory(plain, status)
    if notes:
        stamp = now()
        await set_labels(conn, int(row["pk"]), merged_tags, merged_meta, stamp)
        new = {"tags": merged_tags, "metadata": json.loads(merged_meta)}
        await record(conn, [(memory.id, "merge", diff(row_state(plain), new), None, stamp)])
        memory = memory.model_copy(
            update={"tags": merged_tags, "metadata": json.loads(merged_meta), "updated_at": stamp}
        )
    return memory.model_copy(update={"notes": notes})
