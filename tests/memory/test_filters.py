"""Metadata filters and scopes: parsing and its errors, and the SQL (``sqlite_where`` over the
``memory_meta`` index) deciding exactly what the Python rules (``filters.matches``) decide."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from compression_layer.memory import MemoryInputError, MemoryStore
from compression_layer.memory.filters import (
    MemoryFilter,
    matches,
    meta_entries,
    parse_date,
    scope_matches,
)


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({"a": {"like": 1}}, "unknown filter operator 'like' for 'a'; use one of eq, in, gt"),
        ({"due": {"gt": "2024-13-45"}}, "malformed date '2024-13-45' for gt"),
        ({"due": {"lt": "yesterday"}}, "malformed date 'yesterday'"),
        ({"n": {"gte": True}}, "gte takes a number or an ISO 8601 date"),
        ({"n": {"lt": None}}, "lt takes a number or an ISO 8601 date"),
        ({"n": [1, 2]}, 'use {"in": [...]}'),
        ({"n": {"in": []}}, "in takes a non-empty list"),
        ({"n": {"in": "abc"}}, "in takes a non-empty list"),
        ({"n": {"eq": {"x": 1}}}, "must be a string, number, boolean or null"),
        ({"n": {"gt": float("nan")}}, "finite number"),
        ({"n": {}}, "empty operator map"),
        ({"": 1}, "invalid metadata key"),
        ({"a..b": 1}, "invalid metadata key"),
    ],
)
def test_bad_filters_are_refused_with_the_reason(metadata: Any, message: str) -> None:
    with pytest.raises(MemoryInputError, match=_escape(message)):
        MemoryFilter.of(metadata=metadata)


def _escape(text: str) -> str:
    import re

    return re.escape(text)


def test_bad_scope_ids_and_flags_are_refused() -> None:
    with pytest.raises(MemoryInputError, match="invalid user_id ''"):
        MemoryFilter.of(user_id="")
    with pytest.raises(MemoryInputError, match="invalid run_id 'a b'"):
        MemoryFilter.of(run_id="a b")
    with pytest.raises(MemoryInputError, match="all_scopes must be true or false"):
        MemoryFilter.of(all_scopes="yes")  # type: ignore[arg-type]
    with pytest.raises(MemoryInputError, match="JSON object of conditions"):
        MemoryFilter.of(metadata=[("a", 1)])  # type: ignore[arg-type]


def test_dates_compare_as_instants() -> None:
    assert parse_date("2024-05-01") == parse_date("2024-05-01T00:00:00Z")
    assert parse_date("2024-05-01T02:00:00+02:00") == parse_date("2024-05-01")
    assert parse_date("2024-05-01 10:30") is not None
    for bad in ("2024-5-1", "May 1st", "2024-02-30", "20240501"):
        assert parse_date(bad) is None
    flt = MemoryFilter.of(metadata={"due": {"gte": "2024-05-01", "lt": "2024-06-01T00:00:00Z"}})
    assert matches(flt, (None, None, None), {"due": "2024-05-31T23:59:59+00:00"})
    assert matches(flt, (None, None, None), {"due": "2024-05-01T01:00:00+02:00"}) is False
    assert matches(flt, (None, None, None), {"due": "soon"}) is False
    assert matches(flt, (None, None, None), {"due": 5}) is False


def test_index_entries_flatten_objects_and_lists() -> None:
    entries = meta_entries({"a": {"b": [1, "x", None, True]}, "c": "2024-01-02", "d": [[1]]})
    assert ("a.b", "n", 1.0, None) in entries and ("a.b", "t", None, "x") in entries
    assert ("a.b", "z", None, None) in entries and ("a.b", "b", 1.0, None) in entries
    assert ("c", "t", parse_date("2024-01-02"), "2024-01-02") in entries
    assert not [e for e in entries if e[0] == "d"]  # a list in a list has nothing to match by


def test_scope_rules() -> None:
    alice = ("alice", None, None)
    alice_run = ("alice", None, "r1")
    assert scope_matches(MemoryFilter(), (None, None, None))
    assert not scope_matches(MemoryFilter(), alice)
    assert scope_matches(MemoryFilter(user_id="alice"), alice)
    assert not scope_matches(MemoryFilter(user_id="alice"), alice_run)
    assert scope_matches(MemoryFilter(user_id="alice", all_scopes=True), alice_run)
    assert not scope_matches(MemoryFilter(user_id="bob", all_scopes=True), alice_run)
    assert scope_matches(MemoryFilter(all_scopes=True), alice_run)


VALUES: list[Any] = [1, 2, 2.5, 3, -1, "a", "b", "2024-05-01", "2024-06-15T12:00:00Z", True, None]
SCOPES = [(None, None, None), ("alice", None, None), ("alice", "bot", "r1"), ("bob", None, None)]


def _random_metadata(rng: random.Random) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    for key in ("n", "s", "d", "nested"):
        roll = rng.random()
        if roll < 0.2:
            continue
        if key == "nested":
            meta[key] = {"k": rng.choice(VALUES)}
        elif roll < 0.35:
            meta[key] = [rng.choice(VALUES), rng.choice(VALUES)]
        else:
            meta[key] = rng.choice(VALUES)
    return meta


def _random_filter(rng: random.Random) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in rng.sample(["n", "s", "d", "nested.k"], rng.randint(1, 2)):
        op = rng.choice(["plain", "eq", "in", "gt", "gte", "lt", "lte"])
        if op == "plain":
            out[key] = rng.choice(VALUES)
        elif op == "eq":
            out[key] = {"eq": rng.choice(VALUES)}
        elif op == "in":
            out[key] = {"in": rng.sample(VALUES, 3)}
        else:
            bound = rng.choice([0, 2, 2.5, "2024-05-01", "2024-06-01"])
            out[key] = {op: bound}
    return out


async def test_sql_filters_decide_as_the_python_rules_do(store: MemoryStore) -> None:
    rng = random.Random(7)
    items = []
    for i in range(160):
        scope = SCOPES[i % len(SCOPES)]
        items.append(
            {
                "content": f"memory number {i} about item {i * 3}",
                "metadata": _random_metadata(rng),
                **dict(zip(("user_id", "agent_id", "run_id"), scope, strict=True)),
            }
        )
    stored = await store.store_many(items, namespace="f")
    assert len({m.id for m in stored}) == 160
    for _ in range(120):
        spec = _random_filter(rng)
        scope = rng.choice(SCOPES)
        all_scopes = rng.random() < 0.4
        flt = MemoryFilter.of(
            user_id=scope[0],
            agent_id=scope[1],
            run_id=scope[2],
            metadata=spec,
            all_scopes=all_scopes,
        )
        want = [m.id for m in stored if matches(flt, (m.user_id, m.agent_id, m.run_id), m.metadata)]
        page = await store.list(
            "f",
            limit=1000,
            user_id=scope[0],
            agent_id=scope[1],
            run_id=scope[2],
            filters=spec,
            all_scopes=all_scopes,
        )
        assert [m.id for m in page.items] == want, (spec, scope, all_scopes)


async def test_a_filter_on_a_key_no_memory_has_is_refused(store: MemoryStore) -> None:
    await store.store("the first", metadata={"priority": 2, "source": "call"})
    with pytest.raises(MemoryInputError, match=r"'prio'; keys there: priority, source"):
        await store.list(filters={"prio": {"gte": 1}})
    with pytest.raises(MemoryInputError, match="metadata key 'prio'"):
        await store.search("first", filters={"prio": 1})
    # A known key with no match is an empty answer, not an error.
    assert (await store.list(filters={"priority": {"gt": 5}})).items == []
    assert await store.search("first", filters={"priority": {"gt": 5}}) == []
    got = await store.search("first", filters={"priority": {"gte": 2}, "source": "call"})
    assert [h.content for h in got] == ["the first"]
    assert (await store.list()).items[0].content == "the first"  # nothing lost on a refusal


async def test_filtered_list_uses_the_indexes(store: MemoryStore, db_path: Path) -> None:
    await store.store("x", metadata={"n": 1}, user_id="alice")
    from compression_layer.memory.filters import sqlite_where

    flt = MemoryFilter.of(user_id="alice", metadata={"n": {"gte": 1}})
    where, params = sqlite_where(flt, "m", "default")
    with sqlite3.connect(db_path) as conn:
        plan = conn.execute(
            f"EXPLAIN QUERY PLAN SELECT m.pk FROM memories m WHERE m.namespace = ? AND {where} "
            "ORDER BY m.pk LIMIT 51",
            ["default", *params],
        ).fetchall()
    text = " ".join(str(row[-1]) for row in plan)
    assert "memory_meta_num" in text, text
    assert "SCAN m" not in text and "SCAN memories" not in text, text


async def test_the_bounds_of_a_range_hold_for_one_value(store: MemoryStore) -> None:
    spread = await store.store("spread", metadata={"n": [1, 100], "due": ["2024-01-01"]})
    inside = await store.store("inside", metadata={"n": [1, 50]})
    within = {"n": {"gte": 40, "lt": 60}}
    assert [m.id for m in (await store.list(filters=within)).items] == [inside.id]
    flt = MemoryFilter.of(metadata=within)
    assert not matches(flt, (None, None, None), spread.metadata)
    assert matches(flt, (None, None, None), inside.metadata)
    # A date bound and a number bound on one key are two conditions, each its own value.
    mixed = {"due": {"gte": "2023-12-01", "lt": "2024-02-01"}}
    assert [m.id for m in (await store.list(filters=mixed)).items] == [spread.id]
