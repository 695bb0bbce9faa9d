"""reduce_json: rows kept by rule, budget honoured, every marker retrieves its original exactly."""

from __future__ import annotations

import json
import random
import re
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from compression_layer.compress.reversible import MARKER_RE, selector_of
from compression_layer.compress.structural.json_lossy import (
    matches,
    needed,
    query_terms,
    reduce_json,
)
from compression_layer.compress.structural.json_table import loads, plain
from compression_layer.compress.types import Domain
from compression_layer.originals.select import select
from compression_layer.tokens import count_tokens

HANDLE = "o_3fa9c2d1e0b4"
JSON = Domain(kind="json")
WORDS = re.findall(
    r"\S+",
    "cache latency memory eviction policy server client request timeout retry backoff index "
    "vector search token model thread lock queue storage network disk upload",
)


def _sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def search_hits(n: int = 150, seed: int = 1) -> dict[str, Any]:
    rng = random.Random(seed)
    hits = [
        {
            "title": _sentence(rng, 6).title(),
            "url": f"https://docs.example.com/{rng.choice(WORDS)}/{i}",
            "snippet": _sentence(rng, 28) + ".",
            "score": round(1 - i / n, 4),
        }
        for i in range(n)
    ]
    hits[37]["snippet"] = "Configure maxmemory-policy allkeys-lru so Redis evicts old keys."
    hits[88]["title"] = "Redis eviction explained"
    return {"query": "redis eviction", "total": n, "results": hits}


def issue_list(n: int = 60, seed: int = 2) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [
        {
            "id": 9_000_000 + i,
            "number": 100 + i,
            "title": _sentence(rng, 7),
            "state": rng.choice(["open", "closed"]),
            "user": {"login": rng.choice(["ada", "bob", "cy"]), "type": "User"},
            "labels": [{"name": "bug"}] if i % 7 == 0 else [],
            "body": _sentence(rng, 80),
        }
        for i in range(n)
    ]


def paged_response(n: int = 80, seed: int = 3) -> dict[str, Any]:
    rng = random.Random(seed)
    items: list[dict[str, Any]] = [
        {"id": i, "status": 200, "path": f"/v1/items/{i}", "ms": rng.randint(20, 40)}
        for i in range(n)
    ]
    items[41] = {"id": 41, "status": 503, "path": "/v1/items/41", "ms": 31, "error": "upstream"}
    items[60]["ms"] = 9000  # an outlier
    return {"page": 3, "per_page": n, "items": items, "next": "/v1/items?page=4"}


def event_lines(n: int = 200, seed: int = 4) -> str:
    rng = random.Random(seed)
    lines = []
    for i in range(n):
        level = "error" if i in (57, 150) else "info"
        lines.append(
            json.dumps({"ts": f"10:{i // 60:02d}:{i % 60:02d}", "level": level,
                        "msg": _sentence(rng, 8), "n": i})
        )  # fmt: skip
    return "\n".join(lines)


def _check_markers(original: str, out: str) -> int:
    """Every marker's selector retrieves original text that parses; returns how many."""
    found = list(MARKER_RE.finditer(out))
    for m in found:
        assert m.group("handle") == HANDLE
        part = select(original, "json", **selector_of(m))
        assert part
    return len(found)


def _restore(original: str, out: str) -> Any:
    """Rebuild the original value from the output and retrieved parts (JSON, not JSON Lines)."""

    def fill(value: Any) -> Any:
        if isinstance(value, list):
            new: list[Any] = []
            for item in value:
                m = MARKER_RE.fullmatch(item) if isinstance(item, str) else None
                if m is not None and "rows" in selector_of(m):
                    new.extend(json.loads(select(original, "json", **selector_of(m))))
                else:
                    new.append(fill(item))
            return new
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        m = MARKER_RE.fullmatch(value) if isinstance(value, str) else None
        if m is not None:
            return json.loads(select(original, "json", **selector_of(m)))
        return value

    return fill(plain(loads(out)))


def test_search_hits_at_rate_0_2_keep_query_rows_and_restore_exactly() -> None:
    text = json.dumps(search_hits(), indent=2)
    tokens = count_tokens(text)
    out = reduce_json(text, JSON, budget=round(0.2 * tokens), query="redis eviction", handle=HANDLE)
    assert out is not None and out.omitted > 0
    assert count_tokens(out.text) <= 0.15 * tokens  # >= 85% fewer
    assert "Redis evicts old keys" in out.text and "Redis eviction explained" in out.text
    assert _check_markers(text, out.text) >= 1
    assert _restore(text, out.text) == json.loads(text)


def test_issue_list_without_query_keeps_first_and_last() -> None:
    issues = issue_list()
    text = json.dumps(issues)
    out = reduce_json(text, JSON, budget=800, query=None, handle=HANDLE)
    assert out is not None
    assert count_tokens(out.text) <= 800
    kept = plain(loads(out.text))
    assert kept[0] == issues[0] and kept[-1] == issues[-1]
    assert _restore(text, out.text) == issues


def test_error_row_and_outlier_of_a_paged_response_are_kept() -> None:
    page = paged_response()
    text = json.dumps(page, indent=1)
    out = reduce_json(text, JSON, budget=300, query=None, handle=HANDLE)
    assert out is not None
    rows = [r for r in plain(loads(out.text))["items"] if isinstance(r, dict)]
    assert page["items"][41] in rows and page["items"][60] in rows
    assert plain(loads(out.text))["next"] == "/v1/items?page=4"
    assert _restore(text, out.text) == page


def test_json_lines_markers_select_the_lines_left_out() -> None:
    text = event_lines()
    out = reduce_json(text, JSON, budget=400, query=None, handle=HANDLE)
    assert out is not None
    originals = text.split("\n")
    kept = [r for r in plain(loads(out.text)) if isinstance(r, dict)]
    assert {r["n"] for r in kept} >= {0, 57, 150, 199}
    back: list[str] = []
    for item in plain(loads(out.text)):
        if isinstance(item, dict):
            back.append(originals[item["n"]])
        else:
            m = MARKER_RE.fullmatch(item)
            assert m is not None
            back.extend(select(text, "json", **selector_of(m)).split("\n"))
    assert back == originals


def test_long_strings_move_out_when_rows_alone_are_over_budget() -> None:
    rows = [{"id": i, "body": f"{i} " + "lorem ipsum dolor " * 40} for i in range(6)]
    text = json.dumps(rows)
    out = reduce_json(text, JSON, budget=60, query=None, handle=HANDLE)
    assert out is not None
    assert "chars omitted" in out.text and "path=$[0].body" in out.text
    assert _restore(text, out.text) == rows


def test_config_that_fits_stays_lossless() -> None:
    config = {"server": {"port": 8080, "hosts": ["a", "b"]}, "debug": False}
    text = json.dumps(config, indent=2)
    assert reduce_json(text, JSON, budget=count_tokens(text), query=None, handle=HANDLE) is None
    assert reduce_json("not json", JSON, budget=1, query=None, handle=HANDLE) is None


def test_query_matcher() -> None:
    terms = query_terms("Why does the Redis eviction fail?")
    assert terms == ["redi", "evict", "fail"]  # "evicts" and "evicted" match too
    assert needed(terms) == 2
    assert matches('{"t":"redis eviction"}', terms) == 2
    assert matches('{"t":"redis only"}', terms) == 1
    assert matches('{"t":"redis evicted it"}', terms) >= needed(terms)
    assert query_terms(None) == [] and needed([]) == 0


def test_awkward_keys_get_paths_that_retrieve() -> None:
    value = {
        "a b": [{"x": i, "y": "v" * 30} for i in range(30)],  # no .key path: left whole
        "k-1": [str(i) * 20 for i in range(30)],
        "é": {"ü": [{"x": i} for i in range(30)]},
    }
    text = json.dumps(value)
    out = reduce_json(text, JSON, budget=80, query=None, handle=HANDLE)
    assert out is not None
    assert _check_markers(text, out.text) == 2
    assert "path=$.k-1 rows=" in out.text and "path=$.é.ü rows=" in out.text
    assert _restore(text, out.text) == value


SCALARS = st.none() | st.booleans() | st.integers(-(10**20), 10**20) | st.text(max_size=40)
RECORD = st.dictionaries(st.sampled_from(["id", "name", "status", "level", "body", "n"]), SCALARS,
                         min_size=1, max_size=5)  # fmt: skip
DOC = st.recursive(
    st.lists(RECORD, min_size=0, max_size=30),
    lambda inner: (
        st.dictionaries(st.sampled_from(["items", "data", "x y", "meta"]), inner, max_size=3)
        | st.lists(inner, max_size=3)
    ),
    max_leaves=6,
)


@settings(max_examples=150, deadline=None)
@given(
    DOC, st.sampled_from([None, 2]), st.floats(0.05, 0.6), st.sampled_from([None, "alpha", "a b"])
)
def test_property_markers_retrieve_and_output_parses(
    value: Any, indent: int | None, rate: float, query: str | None
) -> None:
    text = json.dumps(value, indent=indent)
    tokens = count_tokens(text)
    budget = max(1, round(rate * tokens))
    out = reduce_json(text, JSON, budget=budget, query=query, handle=HANDLE)
    if out is None:
        return
    _check_markers(text, out.text)
    assert _restore(text, out.text) == value
    if not any("exceed" in n for n in out.notes):
        assert count_tokens(out.text) <= budget * 1.1 + 40  # stated tolerance


def test_reduce_json_gives_the_same_output_after_the_lossless_pass() -> None:
    from compression_layer.compress.structural.data import compress_json, shared_parse

    rng = random.Random(4)
    rows = [
        {"id": i, "level": rng.choice(["info", "error"]), "tags": [{"k": 1}, {"k": 2}],
         "msg": "x]{y" if i % 7 == 0 else f"request {i} took {rng.randint(1, 900)} ms"}
        for i in range(300)
    ]  # fmt: skip
    for text in (json.dumps({"rows": rows}), "\n".join(json.dumps(r) for r in rows)):
        alone = reduce_json(text, Domain(kind="json"), budget=400, query="error", handle=HANDLE)
        with shared_parse():
            compress_json(text)
            shared = reduce_json(
                text, Domain(kind="json"), budget=400, query="error", handle=HANDLE
            )
        assert alone is not None and shared is not None
        assert shared.text == alone.text and shared.omitted == alone.omitted
