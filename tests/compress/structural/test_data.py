"""JSON compaction (exact round trip, tables); log grouping is tested in test_logs.py."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compression_layer.compress.structural.data import compress_json, json_expand
from compression_layer.errors import InputError
from compression_layer.tokens import count_tokens

KEYS = st.sampled_from(["id", "name", "$table", "$$table", "rows", "é", "", "a b"]) | st.text(
    max_size=6
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)


def _uniform_objects(children: st.SearchStrategy[Any]) -> st.SearchStrategy[list[Any]]:
    """Lists of 0-6 objects sharing one key order: what the table form is for."""
    return st.lists(KEYS, min_size=1, max_size=4, unique=True).flatmap(
        lambda keys: st.lists(
            st.tuples(*[children for _ in keys]).map(
                lambda vals: dict(zip(keys, vals, strict=True))
            ),
            max_size=6,
        )
    )


JSON = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(KEYS, children, max_size=5)
        | _uniform_objects(children)
    ),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(JSON, st.sampled_from([None, 2]))
def test_json_roundtrip_property(value: Any, indent: int | None) -> None:
    text = json.dumps(value, indent=indent, ensure_ascii=indent is None)
    out = compress_json(text)
    assert out.checks == {"roundtrip": True}
    assert json_expand(out.text) == json.loads(text)
    assert len(out.text) <= len(text)


def test_numbers_keep_their_text() -> None:
    text = '{"a": 1.10, "b": 1e400, "c": 123456789012345678901234567890, "d": -0.0, "e": 1E-7}'
    out = compress_json(text).text
    assert out == '{"a":1.10,"b":1e400,"c":123456789012345678901234567890,"d":-0.0,"e":1E-7}'
    assert json_expand(out)["c"] == 123456789012345678901234567890


def test_uniform_arrays_become_tables() -> None:
    rows = [{"id": i, "name": f"n{i}", "tags": ["a", "b"]} for i in range(3)]
    out = compress_json(json.dumps({"rows": rows}, indent=2)).text
    assert out == '{"rows":[3]{id,name,tags=["a","b"]}\n0,n0\n1,n1\n2,n2\n}'
    assert json_expand(out) == {"rows": rows}
    # A single object or mixed key orders stay plain objects.
    assert "[1]{" not in compress_json(json.dumps(rows[:1])).text
    mixed = [{"a": 1, "b": 2}, {"b": 2, "a": 1}, {"a": 1, "b": 2}]
    assert compress_json(json.dumps(mixed)).text.startswith("[{")


def test_table_cells_that_would_read_as_another_type_are_quoted() -> None:
    rows = [
        {"k": "null", "v": "1.5", "w": "", "x": "a,b", "y": " pad", "z": "[x]"},
        {"k": "true", "v": "01", "w": "plain text", "x": 'say "hi"', "y": "é", "z": "{"},
        {"k": None, "v": 1.5, "w": "line\nbreak", "x": True, "y": [1], "z": {"a": 1}},
    ]
    out = compress_json(json.dumps(rows)).text
    assert out.startswith("[3]{k,v,w,x,y,z}\n")
    assert '"null","1.5","",' in out and ",01,plain text," in out
    assert json_expand(out) == rows


def test_missing_keys_nested_objects_and_constants() -> None:
    rows = [
        {"id": 1, "user": {"login": "ada", "type": "User"}, "tag": "x", "kind": "issue"},
        {"id": 2, "user": {"login": "bob", "type": "User"}, "kind": "issue"},
        {"id": 3, "tag": "y", "kind": "issue"},
        {"id": 4, "user": {"login": "cy"}, "tag": "", "kind": "issue"},
    ]
    out = compress_json(json.dumps(rows)).text
    assert out.splitlines()[0] == "[4]{id,user{login,type},tag,kind=issue}"
    assert json_expand(out) == rows


def test_awkward_keys_in_table_headers() -> None:
    value = [{"a,b": 1, "": 2, "x=y": 3, "{": 4, "é": 5, "$table": 6}] * 3
    out = compress_json(json.dumps(value)).text
    assert json_expand(out) == value


def test_duplicate_keys_and_key_order_are_preserved() -> None:
    out = compress_json('{"b": 1, "a": 2, "b": 3}').text
    assert out == '{"b":1,"a":2,"b":3}'
    assert json_expand(out) == {"b": 3, "a": 2}


def test_lone_surrogates_survive_as_escapes() -> None:
    text = '["\\ud800", "é"]'
    out = compress_json(text).text
    assert json_expand(out) == json.loads(text)
    out.encode("utf-8")


def test_json_lines() -> None:
    lines = "\n".join(json.dumps({"id": i, "level": "info", "msg": f"m{i}"}) for i in range(5))
    out = compress_json(lines)
    assert out.text.startswith("[5]{id,level=info,msg}\n")
    assert json_expand(out.text) == [json.loads(line) for line in lines.splitlines()]
    mixed = '{"a": 1}\n\n[1, 2]\n"x"\n'
    out = compress_json(mixed)
    assert out.text == '{"a":1}\n[1,2]\n"x"'
    assert json_expand(out.text) == [{"a": 1}, [1, 2], "x"]


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('{"a": 1,}', "line 1 column 9"),
        ('{\n  "a": [1, 2\n}', "line 3 column 1"),
        ("", "line 1 column 1"),
        ('{"a": 1}\n{"a"', "line 2"),
    ],
)
def test_malformed_json_raises_input_error(text: str, where: str) -> None:
    with pytest.raises(InputError, match=where):
        compress_json(text)


def test_pretty_json_loses_at_least_30_percent_of_tokens() -> None:
    rng = random.Random(3)
    records = [
        {"id": i, "user": f"user_{rng.randint(1000, 9999)}", "score": round(rng.random(), 3)}
        for i in range(100)
    ]
    text = json.dumps({"records": records}, indent=2)
    out = compress_json(text).text
    assert count_tokens(out) <= 0.7 * count_tokens(text)


def _line_by_line(text: str) -> list[Any]:
    from compression_layer.compress.structural.json_table import exact_loads

    return [exact_loads(line) for line in text.split("\n") if line.strip()]


@pytest.mark.parametrize(
    "text",
    [
        '{"a": 1}\n{"a": 2.50}\n',
        '  {"a": 1}  \r\n\n\t[1, "x"]\n"s"\n3\nnull',
        '{"a": 1}\n\n\n{"b": {"c": [1, 2]}}   ',
        '{"a": "line\\nbreak"}\n{"a": 1e400}',
    ],
)
def test_json_lines_read_whole_as_line_by_line(text: str) -> None:
    from compression_layer.compress.structural.data import load_document

    value, jsonl = load_document(text)
    assert jsonl and value == _line_by_line(text)


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('{"a": 1}\n{"a": 1} {"b": 2}\n', "line 2"),
        ('{"a": 1}\n{"a":\n 1}\n', "line 2"),
        ('{"a": 1}\n{"a" 1}\n', "line 2"),
        ('{"a": 1}\n\x0b\n{"a": 2}\nnope', "line 4"),
    ],
)
def test_json_lines_errors_still_name_the_line(text: str, where: str) -> None:
    with pytest.raises(InputError, match=where):
        compress_json(text)


def test_the_lossy_pass_reuses_the_lossless_parse_only_of_the_same_text() -> None:
    from compression_layer.compress.structural.data import shared_parse, take_parse

    text = json.dumps([{"id": i, "name": f"n{i}"} for i in range(50)])
    assert take_parse(text) is None  # outside a block nothing is kept
    compress_json(text)
    with shared_parse():
        assert take_parse(text) is None
        out = compress_json(text).text
        other = "".join(text)  # equal, but another object
        assert take_parse(other) is None
        compress_json(text)
        parsed = take_parse(text)
        assert parsed is not None and parsed.written == out and not parsed.jsonl
        assert take_parse(text) is None  # handed over once


def test_bare_rows_read_back_as_the_cell_reader_reads_them() -> None:
    from compression_layer.compress.structural.json_table import dump, exact_loads, loads

    rows = []
    for i in range(40):
        row: dict[str, Any] = {"id": i, "v": [1.50, -0.0, 1e5, "null", "NaN", None, True][i % 7]}
        if i % 3:
            row["user"] = {"login": f"u{i % 4}", "site": {"id": i, "x": "y"}}
        if i % 5 == 0:
            row["note"] = "a, b" if i % 10 else "plain"
        row["last"] = "x" if i % 2 else ""
        rows.append(row)
    text = json.dumps(rows)
    value = exact_loads(text)
    out = dump(value)
    assert out.startswith("[40]{")  # a table, with bare and quoted rows
    assert loads(out) == value
    assert json_expand(out) == json.loads(text)


def test_repeated_long_values_are_named_once_per_column() -> None:
    done = "2024-10-01T00:00:00Z"
    label = [{"name": "bug", "color": "d73a4a"}]
    rows = [
        {"id": i, "closed_at": [done, None, "@0", "@lit", done][i % 5],
         "labels": label if i % 2 else [], "who": "same" if i % 3 else "@1"}
        for i in range(30)
    ]  # fmt: skip
    text = json.dumps(rows)
    out = compress_json(text).text
    head = out.split("\n", 1)[0]
    assert f'closed_at["{done}"]' in head and 'labels[[{"name":"bug"' in head
    assert out.count(done) == 1 and "\n1,@0," not in out  # row 1's closed_at is null
    assert '"@0"' in out and '"@lit"' in out  # strings that look like references, quoted
    assert json_expand(out) == rows


def test_a_reference_to_no_shared_value_is_an_error() -> None:
    text = '[2]{id,at["2024-10-01T00:00:00Z"]}\n1,@0\n2,@3\n'
    assert json_expand(text.replace("@3", "@0")) == [
        {"id": 1, "at": "2024-10-01T00:00:00Z"},
        {"id": 2, "at": "2024-10-01T00:00:00Z"},
    ]
    with pytest.raises(InputError, match="shared value"):
        json_expand(text)
    with pytest.raises(InputError, match="shared value"):
        json_expand(text.replace("2,@3", '"x",@3'))  # the cell-by-cell reader too


def test_a_prefix_every_value_of_a_column_shares_is_written_once() -> None:
    base = "https://docs.example.com/"
    tails = ["thread/0", "12", "", "null", "@0", " x", "[a]", "true"]
    rows = [{"url": base + tails[i % len(tails)], "n": i} for i in range(24)]
    out = compress_json(json.dumps(rows)).text
    assert out.startswith('[24]{url"https://docs.example.com/",n}\nthread/0,0\n"12",1\n"",2\n')
    assert json_expand(out) == rows
    mixed = [*rows, {"url": 5, "n": 99}]  # not all strings: no prefix
    out = compress_json(json.dumps(mixed)).text
    assert 'url"' not in out.split("\n", 1)[0] and json_expand(out) == mixed


def test_a_cell_that_is_no_string_in_a_prefix_column_is_an_error() -> None:
    with pytest.raises(InputError, match="no string"):
        json_expand('[2]{u"https://a.b/",n}\nx,1\n12,2\n')
    with pytest.raises(InputError, match="no string"):
        json_expand('[2]{u"https://a.b/",n}\nx,1\n[1],"2"\n')
    assert json_expand('[2]{u"https://a.b/",n}\nx,1\n"12",2\n') == [
        {"u": "https://a.b/x", "n": 1},
        {"u": "https://a.b/12", "n": 2},
    ]
