"""``memory.filters.MemoryFilter`` as Postgres SQL: ``filters.where_sql`` (the rules SQLite uses
too) with Postgres' placeholder, and the scope alone for tables that carry the scope columns."""

from __future__ import annotations

from typing import Any

from compression_layer.memory.filters import MemoryFilter, scope_terms, where_sql

DEFAULT = MemoryFilter()
"""What a read sees when the caller gives no filter: live memories with no scope."""
PH = "%s"
"""psycopg's placeholder."""


def pg_where(
    flt: MemoryFilter | None, alias: str = "m", namespace: str | None = None
) -> tuple[str, list[Any]]:
    """A condition on ``memories AS alias`` and its parameters: what ``flt`` lets a read see.
    The namespace is the caller's to add; given here too, metadata conditions use the index
    prefix ``(namespace, key)``."""
    return where_sql(flt or DEFAULT, alias, namespace, PH)


def pg_scope(flt: MemoryFilter | None, alias: str) -> tuple[str, list[Any]] | None:
    """The scope part of ``pg_where`` on a table with the scope columns (``memory_terms``), or
    None when ``flt`` has metadata conditions, which only ``pg_where`` can express."""
    flt = flt or DEFAULT
    if flt.conditions:
        return None
    terms, params = scope_terms(flt, alias, PH)
    return " AND ".join(terms) or "TRUE", params
