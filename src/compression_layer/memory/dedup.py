"""Near-duplicates: which new memories of a batch are another wording of one already stored (or
earlier in the batch), and what ``near_duplicate_policy`` does with them.

Similar is not enough: a text that differs in a fact or a meaning operator ("is not allergic",
"at 4pm", "may attend") is a correction or a new statement and is always kept.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from compression_layer.memory.db import Database, Row
from compression_layer.memory.filters import Scope
from compression_layer.memory.pending import (
    Key,
    Pending,
    absorb_labels,
    merge_into,
    merge_labels,
)
from compression_layer.memory.ranking import meaning_differences
from compression_layer.memory.rows import row_scope, row_to_memory, rows_by_pk
from compression_layer.memory.types import Memory, StoreStatus
from compression_layer.memory.vectors import Vectors
from compression_layer.settings import MemorySettings

NEAR_CANDIDATES = 8  # stored memories above the threshold checked per new item, best first

Vector = npt.NDArray[np.float32]
Alias = tuple[Pending | int, StoreStatus | None, list[str]]
"""Where an item that is not written went: a pending item or the pk of a stored memory, the
status it reports, and notes."""


@dataclass
class Outcome:
    """What the policy decided for a batch of new items."""

    accepted: list[Pending] = field(default_factory=list)
    """Items to write (inserts, or rewrites of a stored memory when ``pk`` is set)."""
    aliases: dict[Key, Alias] = field(default_factory=dict)
    labels: dict[int, tuple[Row, list[str], str]] = field(default_factory=dict)
    """Merged tags and metadata JSON for stored memories (by pk) that skipped items point at."""

    def results(self, kept: Mapping[int, Memory]) -> dict[Key, Memory]:
        """Each item's memory once the batch is written: an accepted item's own, an alias's the
        memory it ended at (following aliases of aliases), with its status and notes.
        ``kept``: the stored memories (by pk) that skipped items point at, relabelled."""
        out = {p.key: p.to_memory() for p in self.accepted}
        final_ids = {id(p) for p in self.accepted}
        for k, (target, status, notes) in self.aliases.items():
            while isinstance(target, Pending) and id(target) not in final_ids:
                target = self.aliases[target.key][0]
            memory = target.to_memory() if isinstance(target, Pending) else kept[target]
            changes: dict[str, Any] = {"notes": [*notes, *memory.notes]}
            if status is not None:
                changes["status"] = status
            out[k] = memory.model_copy(update=changes)
        return out


def twin(
    p: Pending,
    vec: Vector,
    slots: list[Pending],
    slot_vecs: list[Vector],
    stored: list[tuple[int, float]],
    claimed: dict[int, int],
    rows: Mapping[int, Any],
    threshold: float,
) -> tuple[int | None, int | None] | None:
    """The most similar text above ``threshold`` that ``p`` is a near-duplicate of, as (slot in
    this batch, None) or (None, pk of a stored memory); None when there is none."""
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
            text = rows[stored_pk]["content"]
        else:
            continue
        if not meaning_differences(p.content, text):
            return at, stored_pk
    return None


async def near_duplicates(
    db: Database,
    vectors: Vectors,
    settings: MemorySettings,
    fresh: list[Pending],
    vecs: Mapping[str, Vector],
) -> Outcome:
    """Apply ``near_duplicate_policy`` to ``fresh`` (items whose content is not stored yet);
    inside the write transaction."""
    policy = settings.near_duplicate_policy
    if policy == "keep" or not fresh:
        return Outcome(accepted=list(fresh))
    out = Outcome()
    # Near-duplicates are looked for within one namespace and scope, as exact duplicates are.
    groups: dict[tuple[str, Scope], list[Pending]] = {}
    for p in fresh:
        groups.setdefault((p.namespace, p.scope), []).append(p)
    for (ns, scope), items in groups.items():
        matrix = np.stack([vecs[p.embed_hash] for p in items])
        index = await vectors.index(db, ns)
        stored: list[list[tuple[int, float]]] = [[] for _ in items]
        if index is not None:
            threshold = settings.near_duplicate_threshold
            # The namespace's index holds every scope: look deeper, keep this scope's live rows.
            depth = NEAR_CANDIDATES * 4
            stored = await asyncio.to_thread(index.above, matrix, threshold, depth)
        rows = await rows_by_pk(db, (pk for near in stored for pk, _ in near))
        rows = {
            pk: r for pk, r in rows.items() if r["deleted_at"] is None and row_scope(r) == scope
        }
        stored = [[(pk, s) for pk, s in near if pk in rows][:NEAR_CANDIDATES] for near in stored]
        out.accepted.extend(decide(items, matrix, stored, rows, settings, out))
    return out


def decide(
    items: list[Pending],
    matrix: npt.NDArray[np.float32],
    stored: list[list[tuple[int, float]]],
    rows: dict[int, Row],
    settings: MemorySettings,
    out: Outcome,
) -> list[Pending]:
    """The policy over one namespace's items, in order; returns the items to write."""
    skip = settings.near_duplicate_policy == "skip"
    slots: list[Pending] = []
    slot_vecs: list[Vector] = []
    claimed: dict[int, int] = {}  # pk of a stored memory -> slot already updating it
    for j, p in enumerate(items):
        vec = matrix[j]
        found = twin(
            p, vec, slots, slot_vecs, stored[j], claimed, rows, settings.near_duplicate_threshold
        )
        if found is None:
            slots.append(p)
            slot_vecs.append(vec)
            continue
        slot, pk = found
        if skip and slot is not None:
            notes = absorb_labels(slots[slot], p)
            out.aliases[p.key] = (slots[slot], "near_duplicate_skipped", notes)
        elif skip and pk is not None:
            row = rows[pk]
            _, tags, meta = out.labels.get(pk, (row, json.loads(row["tags"]), row["metadata"]))
            tags, meta, _ = merge_labels(tags, meta, p.tags, p.metadata_json)
            out.labels[pk] = (row, tags, meta)
            out.aliases[p.key] = (pk, "near_duplicate_skipped", [])
        elif slot is not None:
            prev = slots[slot]
            status: StoreStatus = "near_duplicate_updated" if prev.pk else "created"
            merge_into(p, prev.id, prev.pk, prev.created_at, prev.tags, prev.metadata_json, status)
            out.aliases[prev.key] = (p, None, [])
            slots[slot], slot_vecs[slot] = p, vec
        elif pk is not None:
            old = row_to_memory(rows[pk])
            merge_into(
                p,
                old.id,
                pk,
                old.created_at,
                old.tags,
                rows[pk]["metadata"],
                "near_duplicate_updated",
            )
            claimed[pk] = len(slots)
            slots.append(p)
            slot_vecs.append(vec)
    return slots
