"""Which memories a read sees: scopes beside the namespace, and conditions on metadata.

Scopes. Every memory may carry a ``user_id``, an ``agent_id`` and a ``run_id`` (each optional;
memories stored before scopes existed carry none). A caller's scope is the triple it gives, absent
parts meaning "none": by default a read sees exactly the memories of that scope, so a caller that
gives ``user_id="alice"`` sees Alice's memories that carry no agent or run, and a caller that gives
nothing sees only the memories that carry no scope. With ``all_scopes`` the given parts become
constraints and the others match anything: ``all_scopes`` with ``user_id="alice"`` sees every
memory of Alice (any agent, any run); ``all_scopes`` alone sees the whole namespace.

Metadata conditions. A mapping ``{key: condition}`` where a condition is a plain value (equality)
or an operator map such as ``{"gte": 3, "lt": 10}`` or ``{"in": ["a", "b"]}``. Operators: eq, in,
gt, gte, lt, lte. Ranges take numbers, or ISO 8601 dates and times (``2024-05-01``,
``2024-05-01T14:30:00Z``; a time without an offset is UTC), compared as instants. A key may name a
nested value with dots (``source.kind``); a list value matches when any element does (for a
range, one element within all its bounds). All conditions must hold.

Metadata conditions are answered from an index, ``memory_meta``: one row per scalar found in a
memory's metadata (``meta_entries``), holding its kind and its value as a number (numbers,
booleans, dates as epoch seconds) or as text. ``where_sql`` turns a filter into SQL over it, for
either backend (``ph``: the driver's placeholder).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict

from compression_layer.memory.errors import MemoryInputError
from compression_layer.memory.validate import check_scope_id

Op = Literal["eq", "in", "gt", "gte", "lt", "lte"]
OPS: tuple[str, ...] = get_args(Op)
RANGE_SQL = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
Scalar = str | int | float | bool | None
Scope = tuple[str | None, str | None, str | None]
"""(user_id, agent_id, run_id)."""
SCOPE_FIELDS = ("user_id", "agent_id", "run_id")
NO_SCOPE: Scope = (None, None, None)

MAX_CONDITIONS = 16
MAX_IN_VALUES = 100
MAX_KEY_CHARS = 200
SEP = "\x1f"  # joins the parts of a scope token (unit separator: never in an id)

_ISO_DATE = re.compile(
    r"^\d{4}-\d{2}-\d{2}"
    r"(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$"
)


class Condition(BaseModel):
    """One metadata condition: ``key`` (dotted path) ``op`` ``value``."""

    model_config = ConfigDict(frozen=True)

    key: str
    op: Op
    value: Scalar | tuple[Scalar, ...]


class MemoryFilter(BaseModel):
    """Scope and metadata conditions of a read; build with ``MemoryFilter.of`` (checked)."""

    model_config = ConfigDict(frozen=True)

    user_id: str | None = None
    agent_id: str | None = None
    run_id: str | None = None
    all_scopes: bool = False
    conditions: tuple[Condition, ...] = ()

    @classmethod
    def of(
        cls,
        *,
        user_id: object = None,
        agent_id: object = None,
        run_id: object = None,
        metadata: Mapping[str, Any] | None = None,
        all_scopes: bool = False,
    ) -> MemoryFilter:
        """A checked filter; MemoryInputError says what is wrong (unknown operator, malformed
        date, bad scope id, ...)."""
        if not isinstance(all_scopes, bool):
            raise MemoryInputError(f"all_scopes must be true or false, got {all_scopes!r}")
        return cls(
            user_id=_scope_part("user_id", user_id),
            agent_id=_scope_part("agent_id", agent_id),
            run_id=_scope_part("run_id", run_id),
            all_scopes=all_scopes,
            conditions=parse_conditions(metadata),
        )

    @property
    def scope(self) -> Scope:
        return (self.user_id, self.agent_id, self.run_id)

    def describe(self) -> str:
        """The scope in words, for messages: ``user alice, any agent, any run``."""
        parts = []
        for name, value in zip(("user", "agent", "run"), self.scope, strict=True):
            if value is not None:
                parts.append(f"{name} {value}")
            elif self.all_scopes:
                parts.append(f"any {name}")
        if not parts:
            return "no scope"
        return ", ".join(parts)


def _scope_part(name: str, value: object) -> str | None:
    return None if value is None else check_scope_id(value, name)


def scope_of(user_id: object = None, agent_id: object = None, run_id: object = None) -> Scope:
    """A checked scope triple."""
    return (
        _scope_part("user_id", user_id),
        _scope_part("agent_id", agent_id),
        _scope_part("run_id", run_id),
    )


# -- parsing ------------------------------------------------------------------------------------


def parse_date(text: str) -> float | None:
    """Epoch seconds of an ISO 8601 date or date-time (naive: UTC); None when ``text`` is not
    one."""
    if not _ISO_DATE.match(text):
        return None
    try:
        when = datetime.fromisoformat(text.replace(" ", "T", 1))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def _scalar(key: str, value: object, where: str) -> Scalar:
    if value is None or isinstance(value, str | bool):
        return value
    if isinstance(value, int | float):
        if value != value or value in (float("inf"), float("-inf")):
            raise MemoryInputError(f"filter on {key!r}: {where} must be a finite number")
        return value
    raise MemoryInputError(
        f"filter on {key!r}: {where} must be a string, number, boolean or null, "
        f"got {type(value).__name__}"
    )


def _range_value(key: str, op: str, value: object) -> Scalar:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise MemoryInputError(
            f"filter on {key!r}: {op} takes a number or an ISO 8601 date, got {value!r}"
        )
    if isinstance(value, str) and parse_date(value) is None:
        raise MemoryInputError(
            f"filter on {key!r}: malformed date {value!r} for {op}; use ISO 8601 such as "
            "2024-05-01 or 2024-05-01T14:30:00Z"
        )
    return _scalar(key, value, op)


def _check_key(key: object) -> str:
    if not isinstance(key, str) or not key.strip() or len(key) > MAX_KEY_CHARS:
        raise MemoryInputError(
            f"invalid metadata key {key!r} in a filter: a non-empty string of at most "
            f"{MAX_KEY_CHARS} characters"
        )
    if any(ord(c) < 32 for c in key) or any(not part for part in key.split(".")):
        raise MemoryInputError(f"invalid metadata key {key!r} in a filter")
    return key


def parse_conditions(metadata: Mapping[str, Any] | None) -> tuple[Condition, ...]:
    """Conditions from ``{key: value | {op: value, ...}}``; MemoryInputError names the fault."""
    if metadata is None:
        return ()
    if not isinstance(metadata, Mapping):
        raise MemoryInputError(
            f"a metadata filter must be a JSON object of conditions, got {type(metadata).__name__}"
        )
    out: list[Condition] = []
    for raw_key, spec in metadata.items():
        key = _check_key(raw_key)
        if isinstance(spec, Mapping):
            if not spec:
                raise MemoryInputError(f"filter on {key!r}: empty operator map")
            for op, value in spec.items():
                out.append(_condition(key, op, value))
        elif isinstance(spec, list | tuple):
            raise MemoryInputError(
                f"filter on {key!r}: a list is not a value to compare with; use "
                f'{{"in": [...]}} to match any of several values'
            )
        else:
            out.append(Condition(key=key, op="eq", value=_scalar(key, spec, "the value")))
    if len(out) > MAX_CONDITIONS:
        raise MemoryInputError(f"{len(out)} filter conditions, over the limit of {MAX_CONDITIONS}")
    return tuple(out)


def _condition(key: str, op: object, value: object) -> Condition:
    if op not in OPS:
        raise MemoryInputError(
            f"unknown filter operator {op!r} for {key!r}; use one of {', '.join(OPS)}"
        )
    if op == "eq":
        return Condition(key=key, op="eq", value=_scalar(key, value, "eq"))
    if op == "in":
        if not isinstance(value, list | tuple) or not value:
            raise MemoryInputError(f"filter on {key!r}: in takes a non-empty list of values")
        if len(value) > MAX_IN_VALUES:
            raise MemoryInputError(
                f"filter on {key!r}: in takes at most {MAX_IN_VALUES} values, got {len(value)}"
            )
        return Condition(key=key, op="in", value=tuple(_scalar(key, v, "in") for v in value))
    return Condition(key=key, op=op, value=_range_value(key, str(op), value))  # type: ignore[arg-type]


# -- the metadata index -------------------------------------------------------------------------

MetaEntry = tuple[str, str, float | None, str | None]
"""(key, kind, num, text): kind n number, b boolean, t text (num: epoch seconds if a date),
z null."""


def _entry(key: str, value: Scalar) -> MetaEntry:
    if value is None:
        return (key, "z", None, None)
    if isinstance(value, bool):
        return (key, "b", float(value), None)
    if isinstance(value, int | float):
        return (key, "n", float(value), None)
    return (key, "t", parse_date(value), value)


def meta_entries(metadata: Mapping[str, Any] | str) -> list[MetaEntry]:
    """The ``memory_meta`` rows of one memory's metadata (a mapping or its JSON text): nested
    objects flattened to dotted keys, each list element an entry of the list's key."""
    data = json.loads(metadata) if isinstance(metadata, str) else metadata
    return list(dict.fromkeys(_walk("", data)))


def _walk(prefix: str, value: Any) -> Iterator[MetaEntry]:
    if isinstance(value, Mapping):
        for k, v in value.items():
            yield from _walk(f"{prefix}.{k}" if prefix else str(k), v)
    elif isinstance(value, list):
        for v in value:
            if not isinstance(v, list):  # a list in a list has no key to match by
                yield from _walk(prefix, v)
    elif prefix:
        yield _entry(prefix, value)


def _value_sql(value: Scalar, ph: str) -> tuple[str, list[Any]]:
    """SQL over ``memory_meta`` (kind, num, text) for equality with ``value``; ``ph`` is the
    driver's placeholder (``?`` for SQLite, ``%s`` for Postgres)."""
    key, kind, num, text = _entry("", value)
    del key
    if kind == "z":
        return "kind = 'z'", []
    if kind == "t":
        return f"kind = 't' AND text = {ph}", [text]
    return f"kind = '{kind}' AND num = {ph}", [num]


def _condition_sql(c: Condition, ph: str) -> tuple[str, list[Any]]:
    if c.op == "eq":
        assert not isinstance(c.value, tuple)
        return _value_sql(c.value, ph)
    if c.op == "in":
        assert isinstance(c.value, tuple)
        texts = [v for v in c.value if isinstance(v, str)]
        parts: list[str] = []
        params: list[Any] = []
        if texts:
            parts.append(f"(kind = 't' AND text IN ({', '.join([ph] * len(texts))}))")
            params += texts
        for v in c.value:
            if not isinstance(v, str):
                sql, p = _value_sql(v, ph)
                parts.append(f"({sql})")
                params += p
        return "(" + " OR ".join(parts) + ")", params
    op = RANGE_SQL[c.op]
    if isinstance(c.value, str):
        return f"kind = 't' AND num {op} {ph}", [parse_date(c.value)]
    return f"kind = 'n' AND num {op} {ph}", [float(c.value)]  # type: ignore[arg-type]


def where_sql(
    flt: MemoryFilter, alias: str = "m", namespace: str | None = None, ph: str = "?"
) -> tuple[str, list[Any]]:
    """A SQL condition on ``memories AS alias`` (and its bound parameters, ``ph`` the driver's
    placeholder) that holds for the memories ``flt`` lets a read see: not deleted, in its scope,
    meeting every metadata condition. The namespace is the caller's to add; pass it as
    ``namespace`` too and the metadata conditions use the index prefix ``(namespace, key)``."""
    sql, params = scope_sql(flt, alias, ph)
    out = [sql]
    ns_sql = f"namespace = {ph} AND " if namespace is not None else ""
    for group in condition_groups(flt.conditions):
        cond, values = group_sql(group, ph)
        out.append(
            f"{alias}.pk IN (SELECT memory_pk FROM memory_meta WHERE {ns_sql}key = {ph} AND {cond})"
        )
        params += [*([namespace] if namespace is not None else []), group[0].key, *values]
    return " AND ".join(out), params


def sqlite_where(
    flt: MemoryFilter, alias: str = "m", namespace: str | None = None
) -> tuple[str, list[Any]]:
    """``where_sql`` for SQLite."""
    return where_sql(flt, alias, namespace, "?")


def group_sql(group: Sequence[Condition], ph: str = "?") -> tuple[str, list[Any]]:
    """SQL on a ``memory_meta`` row (no alias; the key not included) for one condition group
    (``condition_groups``), with its parameters."""
    parts = [_condition_sql(c, ph) for c in group]
    return " AND ".join(part for part, _ in parts), [value for _, p in parts for value in p]


def scope_terms(flt: MemoryFilter, alias: str, ph: str = "?") -> tuple[list[str], list[Any]]:
    """The scope conditions of ``flt`` on a table with the scope columns, one SQL term each."""
    sql: list[str] = []
    params: list[Any] = []
    for name, value in zip(SCOPE_FIELDS, flt.scope, strict=True):
        if value is not None:
            sql.append(f"{alias}.{name} = {ph}")
            params.append(value)
        elif not flt.all_scopes:
            sql.append(f"{alias}.{name} IS NULL")
    return sql, params


def scope_sql(flt: MemoryFilter, alias: str = "m", ph: str = "?") -> tuple[str, list[Any]]:
    """The part of ``where_sql`` on ``memories AS alias`` itself: not deleted, in scope."""
    terms, params = scope_terms(flt, alias, ph)
    return " AND ".join([f"{alias}.deleted_at IS NULL", *terms]), params


def sqlite_check(flt: MemoryFilter, alias: str = "m") -> tuple[str, list[Any]]:
    """The condition of ``sqlite_where`` for checking given memories, one at a time: each
    metadata group is an ``EXISTS`` over the memory's own ``memory_meta`` rows (index on
    ``memory_pk``) instead of a set of every matching pk, so checking a few hundred candidates
    costs a few hundred probes however many memories match."""
    sql, params = scope_sql(flt, alias)
    out = [sql]
    for group in condition_groups(flt.conditions):
        cond, values = group_sql(group)
        out.append(
            f"EXISTS (SELECT 1 FROM memory_meta mm WHERE mm.memory_pk = {alias}.pk "
            f"AND mm.key = ? AND {cond})"
        )
        params += [group[0].key, *values]
    return " AND ".join(out), params


def condition_groups(conditions: Sequence[Condition]) -> list[list[Condition]]:
    """Conditions that one metadata value must meet together: the bounds of a range on one key
    (numbers or dates), so ``{"gte": 5, "lt": 10}`` is one index range, and a list value matches
    when one element lies in it. Every other condition stands alone."""
    groups: list[list[Condition]] = []
    ranges: dict[tuple[str, bool], list[Condition]] = {}
    for c in conditions:
        if c.op in RANGE_SQL:
            key = (c.key, isinstance(c.value, str))
            if key not in ranges:
                ranges[key] = []
                groups.append(ranges[key])
            ranges[key].append(c)
        else:
            groups.append([c])
    return groups


def is_plain(flt: MemoryFilter) -> bool:
    """Whether ``flt`` only picks a scope (no metadata condition): a search can then filter by
    the FTS scope tokens alone (``fts_scope_match``)."""
    return not flt.conditions


def scope_token(namespace: str, scope: Scope) -> str:
    """The FTS token of one exact (namespace, scope); the same as migration 4's SQL."""
    joined = SEP.join([namespace, *(part or "" for part in scope)])
    return "s" + joined.encode("utf-8").hex() + "z0"


def fts_scope_match(flt: MemoryFilter, namespace: str) -> str:
    """An FTS5 expression on the ``ns_token`` column selecting ``flt``'s scope in ``namespace``
    (AND it with the text query): answered from the index, no memory row read."""
    if not flt.all_scopes:
        return f'ns_token : "{scope_token(namespace, flt.scope)}"'
    tokens = ["n" + namespace.encode("utf-8").hex()]
    for letter, value in zip("uar", flt.scope, strict=True):
        if value is not None:
            tokens.append(letter + f"{namespace}{SEP}{value}".encode().hex() + "z0")
    return " AND ".join(f'ns_token : "{t}"' for t in tokens)


# -- the same rules in Python (fakes, checks, the near-duplicate scope test) --------------------


def scope_matches(flt: MemoryFilter, scope: Scope) -> bool:
    """Whether a memory of ``scope`` is in ``flt``'s scope."""
    for want, have in zip(flt.scope, scope, strict=True):
        if want is not None and want != have:
            return False
        if want is None and not flt.all_scopes and have is not None:
            return False
    return True


def matches(flt: MemoryFilter, scope: Scope, metadata: Mapping[str, Any] | str) -> bool:
    """Whether a live memory with ``scope`` and ``metadata`` passes ``flt`` (as SQL decides)."""
    if not scope_matches(flt, scope):
        return False
    entries = meta_entries(metadata)
    return all(
        any(all(_entry_passes(c, e) for c in group) for e in entries if e[0] == group[0].key)
        for group in condition_groups(flt.conditions)
    )


def _entry_passes(c: Condition, entry: MetaEntry) -> bool:
    _, kind, num, text = entry
    values: Sequence[Scalar]
    if c.op in ("eq", "in"):
        values = c.value if isinstance(c.value, tuple) else (c.value,)
        return any(_entry(c.key, v)[1:] == (kind, num, text) or _text_eq(v, entry) for v in values)
    bound = parse_date(c.value) if isinstance(c.value, str) else float(c.value)  # type: ignore[arg-type]
    if isinstance(c.value, str):
        if kind != "t" or num is None:
            return False
    elif kind != "n" or num is None:
        return False
    assert bound is not None
    return {
        "gt": num > bound,
        "gte": num >= bound,
        "lt": num < bound,
        "lte": num <= bound,
    }[c.op]


def _text_eq(value: Scalar, entry: MetaEntry) -> bool:
    return isinstance(value, str) and entry[1] == "t" and entry[3] == value
