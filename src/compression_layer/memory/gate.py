"""Which memories a filtered search may return, decided without listing them when that costs
more than checking the candidates.

A narrow filter (some part of it matches fewer than ``NARROW`` memories: a user's scope, a week
of due dates, a tag) is answered by an exact list of pks, read from the index of its narrowest
part and checked against the rest; the dense and BM25 lists are then computed over that list.

A broad filter (every part matches many memories: "kind in two values" is half the namespace) is
not listed: listing 50k pks and handing them to FTS5 and numpy cost 200-450 ms at 100k memories.
Instead the search takes deeper unfiltered candidate lists and keeps the candidates that pass
(``Gate.keep``: one probe per candidate), deepening while short. The first ``depth`` passing
candidates of the unfiltered order are exactly the top ``depth`` of the filtered order, so the
result is the same; a filter that turns out to match few memories after all (two broad
conditions that rarely hold together) falls back to the exact list once too many candidates
were checked.

A filter that only picks a scope reaches BM25 as FTS5 scope tokens (``filters.fts_scope_match``),
exact and answered from the index.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from compression_layer.memory.db import Queries
from compression_layer.memory.filters import (
    MemoryFilter,
    condition_groups,
    fts_scope_match,
    group_sql,
    scope_sql,
    sqlite_check,
    sqlite_where,
)

NARROW = 2000
"""A filter part matching fewer memories than this gives an exact pk list."""
CHECK_BUDGET = 8 * NARROW
"""Candidates a broad filter may check before the exact list is read instead."""
_CHUNK = 500


@dataclass
class Gate:
    """The filter of one search: an exact pk list (``pks``) or a check of candidates."""

    namespace: str
    flt: MemoryFilter
    pks: list[int] | None = None
    """Exact, in pk order; None: check candidates with ``keep``."""
    fts: str | None = None
    """An FTS5 expression selecting exactly the filter's memories of the namespace (a filter
    that only picks a scope), to AND with the text query; None when there is none."""
    checked: dict[int, bool] = field(default_factory=dict)

    @property
    def exhausted(self) -> bool:
        """Whether checking went on long enough that the exact list is cheaper."""
        return len(self.checked) >= CHECK_BUDGET

    async def keep(self, db: Queries, pks: Sequence[int]) -> list[int]:
        """The pks of ``pks`` the filter lets through (live, this namespace, in scope, meeting
        every condition), in the given order. Answers are remembered."""
        todo = list(dict.fromkeys(pk for pk in pks if pk not in self.checked))
        if todo:
            where, params = sqlite_check(self.flt, "m")
            passed: set[int] = set()
            for start in range(0, len(todo), _CHUNK):
                rows = await db.fetchall(
                    # CROSS JOIN: the listed pks drive (else the planner may read the
                    # namespace through the scope index and test each row's pk).
                    "SELECT m.pk FROM json_each(?) AS j CROSS JOIN memories m ON m.pk = j.value "
                    f"WHERE m.namespace = ? AND {where}",
                    [json.dumps(todo[start : start + _CHUNK]), self.namespace, *params],
                )
                passed.update(int(r["pk"]) for r in rows)
            for pk in todo:
                self.checked[pk] = pk in passed
        return [pk for pk in pks if self.checked[pk]]

    async def exact(self, db: Queries) -> list[int]:
        """The exact pk list (read once): every memory of the namespace the filter lets see."""
        if self.pks is None:
            where, params = sqlite_where(self.flt, "m", self.namespace)
            ns = "+m.namespace" if self.flt.conditions else "m.namespace"
            rows = await db.fetchall(
                f"SELECT m.pk FROM memories m WHERE {ns} = ? AND {where} ORDER BY m.pk",
                [self.namespace, *params],
            )
            self.pks = [int(r["pk"]) for r in rows]
        return self.pks


async def search_gate(
    db: Queries, namespace: str, flt: MemoryFilter | None, allowed: list[int] | None
) -> Gate | None:
    """The gate of a search of ``namespace`` under ``flt``, its pks intersected with
    ``allowed`` (a tag filter's pks, in order); None when nothing needs filtering out.

    Deleted memories are never in the FTS or vector indexes, so a filter that only picks a
    scope needs nothing while the namespace holds no memory of another scope (the common case
    of a store that does not use scopes)."""
    flt = flt or MemoryFilter()
    plain = not flt.conditions and flt.scope == (None, None, None)
    if plain and (flt.all_scopes or not await _scoped_memories(db, namespace)):
        return None if allowed is None else Gate(namespace, flt, pks=allowed)
    g = Gate(namespace, flt)
    if allowed is not None:
        g.pks = await g.keep(db, allowed)
        return g
    if not flt.conditions:
        g.fts = fts_scope_match(flt, namespace)
    # The narrowest part of the filter, counted up to NARROW from its index.
    where, params = scope_sql(flt, "m")
    parts: list[tuple[str, list[Any]]] = []
    if flt.scope != (None, None, None) or not flt.all_scopes:
        parts.append(
            (
                f"SELECT m.pk AS pk FROM memories m WHERE m.namespace = ? AND {where}",
                [namespace, *params],
            )
        )
    for group in condition_groups(flt.conditions):
        cond, values = group_sql(group)
        parts.append(
            (
                "SELECT DISTINCT memory_pk AS pk FROM memory_meta "
                f"WHERE namespace = ? AND key = ? AND {cond}",
                [namespace, group[0].key, *values],
            )
        )
    best: tuple[int, int] | None = None
    for i, (sql, values) in enumerate(parts):
        row = await db.fetchone(f"SELECT count(*) AS n FROM ({sql} LIMIT ?)", [*values, NARROW])
        n = int(row["n"]) if row is not None else 0
        if best is None or n < best[1]:
            best = (i, n)
    if best is not None and best[1] < NARROW:
        sql, values = parts[best[0]]
        if not flt.conditions:  # the scope part is the whole filter
            rows = await db.fetchall(f"{sql} ORDER BY pk", values)
        else:  # the part's pks drive one check of the whole filter each
            check, check_params = sqlite_check(flt, "m")
            rows = await db.fetchall(
                f"SELECT m.pk AS pk FROM ({sql}) AS c CROSS JOIN memories m ON m.pk = c.pk "
                f"WHERE m.namespace = ? AND {check} ORDER BY m.pk",
                [*values, namespace, *check_params],
            )
        g.pks = [int(r["pk"]) for r in rows]
    return g


async def _scoped_memories(db: Queries, namespace: str) -> bool:
    """Whether the namespace holds a live memory with a scope: three range seeks in the scope
    index (an OR of the three scanned the namespace: 5 ms at 100k memories, per search)."""
    other = await db.fetchone(
        "SELECT 1 FROM memories WHERE namespace = ?1 AND user_id IS NOT NULL "
        "AND deleted_at IS NULL UNION ALL SELECT 1 FROM memories WHERE namespace = ?1 "
        "AND user_id IS NULL AND agent_id IS NOT NULL AND deleted_at IS NULL UNION ALL "
        "SELECT 1 FROM memories WHERE namespace = ?1 AND user_id IS NULL AND agent_id "
        "IS NULL AND run_id IS NOT NULL AND deleted_at IS NULL LIMIT 1",
        (namespace,),
    )
    return other is not None
