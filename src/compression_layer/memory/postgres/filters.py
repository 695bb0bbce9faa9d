"""``memory.filters.MemoryFilter`` as Postgres SQL: the same rules as ``filters.sqlite_where``
(live rows only, the caller's scope, metadata conditions over the ``memory_meta`` index)."""

from __future__ import annotations

from typing import Any

from compression_layer.memory.filters import (
    RANGE_SQL,
    SCOPE_FIELDS,
    Condition,
    MemoryFilter,
    Scalar,
    meta_entries,
    parse_date,
)

DEFAULT = MemoryFilter()
"""What a read sees when the caller gives no filter: live memories with no scope."""


def _equals(value: Scalar) -> tuple[str, list[Any]]:
    entries = meta_entries({"v": value})
    kind, num, text = entries[0][1:] if entries else ("z", None, None)
    if kind == "z":
        return "kind = 'z'", []
    if kind == "t":
        return "kind = 't' AND text = %s", [text]
    return f"kind = '{kind}' AND num = %s", [num]


def _condition(c: Condition) -> tuple[str, list[Any]]:
    if c.op == "eq":
        assert not isinstance(c.value, tuple)
        return _equals(c.value)
    if c.op == "in":
        assert isinstance(c.value, tuple)
        parts, params = [], []
        for v in c.value:
            sql, p = _equals(v)
            parts.append(f"({sql})")
            params += p
        return "(" + " OR ".join(parts) + ")", params
    op = RANGE_SQL[c.op]
    if isinstance(c.value, str):
        return f"kind = 't' AND num {op} %s", [parse_date(c.value)]
    return f"kind = 'n' AND num {op} %s", [float(c.value)]  # type: ignore[arg-type]


def pg_where(
    flt: MemoryFilter | None, alias: str = "m", namespace: str | None = None
) -> tuple[str, list[Any]]:
    """A condition on ``memories AS alias`` and its parameters: what ``flt`` lets a read see.
    The namespace is the caller's to add; given here too, metadata conditions use the index
    prefix ``(namespace, key)``."""
    flt = flt or DEFAULT
    a = alias
    sql = [f"{a}.deleted_at IS NULL"]
    params: list[Any] = []
    for name, value in zip(SCOPE_FIELDS, flt.scope, strict=True):
        if value is not None:
            sql.append(f"{a}.{name} = %s")
            params.append(value)
        elif not flt.all_scopes:
            sql.append(f"{a}.{name} IS NULL")
    for c in flt.conditions:
        cond, p = _condition(c)
        ns_sql = "namespace = %s AND " if namespace is not None else ""
        sql.append(
            f"{a}.pk IN (SELECT memory_pk FROM memory_meta WHERE {ns_sql}key = %s AND {cond})"
        )
        params += ([namespace] if namespace is not None else []) + [c.key, *p]
    return " AND ".join(sql), params


def pg_scope(flt: MemoryFilter | None, alias: str) -> tuple[str, list[Any]] | None:
    """The scope part of ``pg_where`` on a table with the scope columns (``memory_terms``), or
    None when ``flt`` has metadata conditions, which only ``pg_where`` can express."""
    flt = flt or DEFAULT
    if flt.conditions:
        return None
    sql, params = [], []
    for name, value in zip(SCOPE_FIELDS, flt.scope, strict=True):
        if value is not None:
            sql.append(f"{alias}.{name} = %s")
            params.append(value)
        elif not flt.all_scopes:
            sql.append(f"{alias}.{name} IS NULL")
    return " AND ".join(sql) or "TRUE", params
