"""The change history of memories: one ``memory_history`` row per change, old and new values.

Every write path records here, inside its own transaction, so a change and its history entry are
committed together or not at all. A 'create' carries no values (they are the memory's first
state, read from the first later change's ``old`` values, or from the memory itself).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from compression_layer.memory.db import Database
from compression_layer.memory.sql import Fetcher
from compression_layer.memory.types import HistoryAction, HistoryEntry

Change = tuple[str, HistoryAction, dict[str, dict[str, Any]], str | None, str]
"""(memory_id, action, changes, actor, at)."""

TRACKED = ("content", "tags", "metadata", "user_id", "agent_id", "run_id", "deleted_at")


def diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``{field: {"old": .., "new": ..}}`` for the tracked fields whose values differ."""
    return {
        f: {"old": old.get(f), "new": new.get(f)}
        for f in TRACKED
        if f in new and _canon(old.get(f)) != _canon(new.get(f))
    }


def import_restores(
    revived_ids: Sequence[str], deleted_at: Mapping[str, Any], at: str
) -> list[Change]:
    """History entries of the memories an import brought back (actor ``import``), both backends."""
    return [
        (mid, "restore", {"deleted_at": {"old": deleted_at[mid], "new": None}}, "import", at)
        for mid in revived_ids
    ]


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


async def record(db: Database, changes: Sequence[Change]) -> None:
    """Append history entries; inside the caller's transaction."""
    if changes:
        await db.executemany(
            "INSERT INTO memory_history (memory_id, action, changes, actor, at) "
            "VALUES (?, ?, ?, ?, ?)",
            [(mid, action, _canon(ch), actor, at) for mid, action, ch, actor, at in changes],
        )


async def entries(db: Fetcher, memory_id: str, ph: str = "?") -> list[HistoryEntry]:
    """The history of one memory, oldest first (``ph``: the driver's placeholder)."""
    rows = await db.fetchall(
        "SELECT seq, memory_id, action, changes, actor, at FROM memory_history "
        f"WHERE memory_id = {ph} ORDER BY seq",
        [memory_id],
    )
    return [
        HistoryEntry(
            seq=int(r["seq"]),
            memory_id=r["memory_id"],
            action=r["action"],
            # JSON text in SQLite, decoded jsonb from Postgres
            changes=json.loads(c) if isinstance(c := r["changes"], str) else dict(c),
            actor=r["actor"],
            at=r["at"],
        )
        for r in rows
    ]
