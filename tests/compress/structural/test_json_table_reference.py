"""The table writer's shortcuts write what its plain form writes, byte for byte.

The plain forms below are the writer's first versions (a row's keys placed one by one, columns
read attribute by attribute, every string tallied in Python, the unsafe-cell pattern searched
at every position); the writer is run with them swapped in and compared on generated values
and on rows like the throughput bench's.
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compression_layer.compress.structural import data, json_table
from compression_layer.compress.structural.json_table import (
    _MISSING,
    _UNSAFE_CELL,
    Marker,
    Num,
    Obj,
    _cell,
    _Column,
    _key,
    _prefix,
    dump,
    dump_str,
    exact_loads,
)
from compression_layer.tokens import count_tokens


def plain_schema(rows: list[Any], depth: int = 0, consts: bool = True) -> list[Any] | None:
    keys: list[str] = []
    pos: dict[str, int] = {}
    for row in rows:
        if type(row) is not Obj:
            return None
        prev = -1
        for key, _ in row:
            at = pos.get(key)
            if at is None:
                at = prev + 1
                keys.insert(at, key)
                if at != len(keys) - 1:
                    pos = {k: i for i, k in enumerate(keys)}
                else:
                    pos[key] = at
            elif at <= prev:
                return None
            prev = at
    if not keys:
        return None
    columns = [_Column(k) for k in keys]
    maps = [dict(row) for row in rows]
    for column in columns:
        values = [m.get(column.key, _MISSING) for m in maps]
        present = [v for v in values if v is not _MISSING]
        first = present[0]
        if len(present) == len(values) and consts and type(first) is not Obj:
            short = not (isinstance(first, list) and first) or len(dump(first, False)) < 40
            if short and all(v == first for v in values[1:]):
                column.const = first
                continue
        if depth < 2 and len(present) > 1 and all(type(v) is Obj and v for v in present):
            full = len(present) == len(values)
            column.nested = plain_schema(present, depth + 1, consts and full)
        else:
            plain_share(column, present)
    return columns


def plain_share(column: Any, present: list[Any]) -> None:
    seen: dict[Any, list[Any]] = {}
    for v in present:
        kind = type(v)
        if kind is str:
            if len(v) >= json_table.SHARED_MIN_CHARS - 2:
                seen.setdefault(v, [v, 0])[1] += 1
        elif kind is Obj or kind is list:
            seen.setdefault((dump(v, False),), [v, 0])[1] += 1
    counts: dict[str, list[Any]] = {}
    for v, n in seen.values():
        if n > 1 and len(cell := _cell(v)) >= json_table.SHARED_MIN_CHARS:
            counts[cell] = [v, n]
    rough = {cell: n * (len(cell) - 2) - len(cell) - 1 for cell, (_, n) in counts.items()}
    likely = sorted((c for c in rough if rough[c] > 0), key=lambda c: -rough[c])[:30]
    gains = {c: (counts[c][1] - 1) * (count_tokens(c) - 2) - 3 for c in likely}
    best = sorted((c for c in gains if gains[c] > 0), key=lambda c: -gains[c])[:10]
    prefix, saves = _prefix(present)
    if saves > 0 and saves >= sum(gains[c] for c in best):
        column.prefix = prefix
    elif best:
        column.shared = [counts[c][0] for c in best]
        column.refs = {c: f"@{i}" for i, c in enumerate(best)}


def plain_cells(row: Obj, columns: list[Any], out: list[str], seen: dict[str, str]) -> None:
    values = dict(row)
    for column in columns:
        if column.const is not _MISSING:
            continue
        value = values.get(column.key, _MISSING)
        if column.nested is not None:
            plain_cells(Obj() if value is _MISSING else value, column.nested, out, seen)
        elif value is _MISSING:
            out.append("")
        elif column.prefix is not None:
            out.append(_cell(value[len(column.prefix) :]))
        elif column.shared is not None:
            cell = _cell(value)
            ref = column.refs.get(cell)
            if ref is not None:
                out.append(ref)
            else:
                out.append(dump_str(value) if cell[:1] == "@" else cell)
        elif type(value) is str:
            known = seen.get(value)
            if known is None:
                known = seen[value] = _cell(value)
            out.append(known)
        else:
            out.append(_cell(value))


_dump = json_table.dump


def plain_value(value: Any, tables: bool = True, layout: Any = None) -> str:
    """``dump`` writing every value of an object through a call of its own."""
    if type(value) is Obj:
        return (
            "{" + ",".join([f"{_key(k)}:{plain_value(v, tables, layout)}" for k, v in value]) + "}"
        )
    return _dump(value, tables, layout)


def plain_dump(value: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """``dump`` with the plain forms swapped in (undone before returning)."""
    with monkeypatch.context() as m:
        m.setattr(json_table, "dump", plain_value)
        m.setattr(json_table, "COLUMNWISE", False)
        m.setattr(json_table, "_schema", plain_schema)
        m.setattr(json_table, "_share", plain_share)
        m.setattr(json_table, "_plan", lambda columns: columns)
        m.setattr(json_table, "_cells", plain_cells)
        m.setattr(json_table, "unsafe_cell", lambda v: _UNSAFE_CELL.search(v) is not None)
        return plain_value(value)


WORDS = ["redis", "cache", "eviction", "lock", "queue", "retry", "token", "vector", "index"]


def bench_like(rng: random.Random, n: int) -> list[str]:
    """Search hits and JSON Lines events as the throughput bench writes them, smaller."""
    hits = [
        {
            "title": " ".join(rng.choice(WORDS).title() for _ in range(rng.choice([6, 6, 4]))),
            "url": f"https://docs.example.com/{rng.choice(WORDS)}/{i}",
            "snippet": " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 25))) + ".",
            "score": round(rng.random(), 4),
            "rank": i + 1,
            "closed_at": rng.choice(["2024-10-01T00:00:00Z", None, "2024-11-02T08:00:00Z"]),
            "category": rng.choice(["performance-tuning", "memory-management", "@replication"]),
            "labels": rng.choice([["bug", "needs-triage"], ["feature-request"], None, "none"]),
            **({"meta": {"lang": "en", "tags": ["a", "b"]}} if i % 3 else {}),
        }
        for i in range(n)
    ]
    events = [
        {
            "ts": f"2024-05-01T10:{i // 60 % 60:02d}:{i % 60:02d}Z",
            "level": "error" if i % 41 == 3 else "info",
            "service": rng.choice(["api", "db", "worker"]),
            "msg": " ".join(rng.choice(WORDS) for _ in range(8)),
            "latency_ms": rng.randint(1, 500),
        }
        for i in range(n)
    ]
    odd = [
        {"k": rng.choice(["@0", "null", "12", " lead", "trail ", "[x", "a,b", "é ü", "\u2028x"])}
        for _ in range(n)
    ]
    flat = [{k: v for k, v in hit.items() if k != "meta"} for hit in hits]  # one key order
    return [
        json.dumps({"query": "q", "results": hits}),
        json.dumps(flat),
        "[" + ",".join(json.dumps(e) for e in events) + "]",
        json.dumps(odd),
    ]


@pytest.mark.parametrize("seed", range(6))
def test_bench_like_rows_are_written_as_the_plain_form_writes_them(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(seed)
    n = rng.choice([3, 30, 400])
    written = []
    for text in bench_like(rng, n):
        value = exact_loads(text)
        written.append(dump(value))
        assert written[-1] == plain_dump(value, monkeypatch)
    if n >= 30:  # shared values, prefixes and quoted cells all occur
        assert "@0" in written[0] and 'url"https://docs.example.com/"' in written[0]
        assert "@0" in written[1] and 'url"https://docs.example.com/"' in written[1]
        assert 'category["' in written[1]  # a column of strings only, with shared values
        assert '" lead"' in written[3] and '"trail "' in written[3]


KEYS = st.sampled_from(["id", "name", "a b", "é", "", "k"]) | st.text(max_size=4)
CELLS = (
    st.none()
    | st.booleans()
    | st.integers(-(10**6), 10**6)
    | st.sampled_from(["@1", "null", "1e5", " x", "x ", "[", "{a", "a,b", 'q"', "\x85", "\u3000"])
    | st.text(max_size=14)
)


def _rows(children: st.SearchStrategy[Any]) -> st.SearchStrategy[list[Any]]:
    """Lists of objects that mostly share keys (some missing, some reordered)."""
    return st.lists(st.dictionaries(KEYS, children, max_size=4), min_size=2, max_size=12)


VALUES = st.recursive(
    CELLS, lambda children: st.lists(children, max_size=4) | _rows(children), max_leaves=40
)


@settings(max_examples=300, deadline=None)
@given(VALUES)
def test_generated_values_are_written_as_the_plain_form_writes_them(value: Any) -> None:
    exact = exact_loads(json.dumps(value))
    with pytest.MonkeyPatch.context() as monkeypatch:
        assert dump(exact) == plain_dump(exact, monkeypatch)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from(' \t\n\r\x0b\x85\u2028\u3000,"[{a@1\ud800é'), max_size=8))
def test_unsafe_cell_finds_what_the_pattern_finds(value: str) -> None:
    assert json_table.unsafe_cell(value) == (_UNSAFE_CELL.search(value) is not None)


def test_the_plain_forms_are_in_use_while_swapped(monkeypatch: pytest.MonkeyPatch) -> None:
    """A guard on the comparison itself: the swap reaches the writer."""
    calls: list[int] = []

    def counting(row: Obj, columns: list[Any], out: list[str], seen: dict[str, str]) -> None:
        calls.append(1)
        plain_cells(row, columns, out, seen)

    value = exact_loads(json.dumps([{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]))
    monkeypatch.setattr(json_table, "_cells", counting)
    assert dump(value) == "[2]{a,b}\n1,x\n2,y\n"
    assert calls == []  # one key order: written column by column
    monkeypatch.setattr(json_table, "_plan", lambda columns: columns)
    monkeypatch.setattr(json_table, "COLUMNWISE", False)
    assert dump(value) == "[2]{a,b}\n1,x\n2,y\n"
    assert calls == [1, 1]


# --- JSON Lines read value after value, against the line-by-line reader ----------------------

LINE_VALUES = st.sampled_from(
    ['{"a": 1}', "[1, 2]", '"s"', "3.50", "null", '{"k": [1, {"x": "y"}]}', "{}", "1e400"]
)
GAPS = st.sampled_from(["", " ", "\t", "\r", " \r", "  \t "])
ODD = st.sampled_from(['{"a":\n1}', "1 2", "1,2", "[1,\n2]", "{", "nul", '"\\n"', "\u00a0"])


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.tuples(GAPS, LINE_VALUES | ODD | st.just(""), GAPS),
        min_size=1,
        max_size=8,
    ),
    st.booleans(),
)
def test_json_lines_fast_reader_reads_what_each_line_gives(
    lines: list[tuple[str, str, str]], final_newline: bool
) -> None:
    text = "\n".join(a + v + b for a, v, b in lines) + ("\n" if final_newline else "")
    fast = data._jsonl_fast(text)
    if fast is None:
        return  # the line-by-line reader decides (and words any error)
    by_line = [exact_loads(line) for line in text.split("\n") if line.strip(" \t\r")]
    assert fast == by_line


def test_json_lines_fast_reader_gives_up_on_what_it_does_not_read() -> None:
    assert data._jsonl_fast('{"a": 1}\n1 2\n') is None
    assert data._jsonl_fast('{"a":\n1}\n{"b": 2}') is None
    assert data._jsonl_fast("1,2\n3") is None
    assert data._jsonl_fast(' {"a": 1} \r\n\n\t[2]\t\n') == [exact_loads('{"a": 1}'), [Num("2")]]


def test_marker_rows_keep_their_places_in_a_table_written_by_column(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rows = exact_loads(json.dumps([{"id": i, "name": f"n{i % 3}", "ok": True} for i in range(9)]))
    mixed = [
        *rows[:1],
        Marker("[2 rows omitted: retrieve o_3fa9c2d1e0 rows=1-2]"),
        *rows[3:5],
        Marker("[1 row omitted: retrieve o_3fa9c2d1e0 rows=5]"),
        *rows[6:],
    ]
    written = dump(mixed)
    assert written == plain_dump(mixed, monkeypatch)
    lines = written.splitlines()
    assert lines[0] == "[8]{id,name,ok=true}" and lines[2].startswith("[2 rows omitted")
    assert lines[5].startswith("[1 row omitted") and lines[-1] == "8,n2"


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.text(alphabet=st.sampled_from(' \t\n,"[{a1-.eE@\u3000\ud800nultrfIN'), max_size=6)
        | st.sampled_from(["null", "-1.5e3", "NaN", "-Infinity", "12a", "true ", "x"]),
        max_size=6,
    )
)
def test_a_column_is_bare_exactly_when_each_cell_is(values: list[str]) -> None:
    assert json_table.bare_strings(values) == all(_cell(v) == v for v in values)
