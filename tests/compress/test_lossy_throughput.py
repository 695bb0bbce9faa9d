"""The throughput shortcuts of the reversible tier change no output a user receives.

Each shortcut (the JSON round trip left until the lossless output is returned, remembered token
counts of long inputs, ...) is compared with the path that does the work at once, on small
inputs like those of ``bench/throughput.py``: the same compressed text, markers, notes and
token counts.
"""

from __future__ import annotations

import itertools
import json
import math
import random
import statistics
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import log_samples
from compression_layer import tokens
from compression_layer.compress import lossy
from compression_layer.compress.pipeline import compress
from compression_layer.compress.structural import data, json_lossy
from compression_layer.compress.structural.json_lossy import (
    _CODE_KEYS,
    _ERROR_KEYS,
    _FAILURE,
    _STATUS_KEYS,
)
from compression_layer.compress.structural.json_table import Num, Obj, exact_loads
from compression_layer.compress.types import CompressionResult, Domain
from compression_layer.errors import InputError
from compression_layer.originals.store import OriginalStore

JSON = Domain(kind="json")
HANDLE = "o_3fa9c2d1e0b4"
_STATUS = ["ok", "ok", "ok", "ok", "error", "timeout"]
_WORDS = [
    "redis",
    "cache",
    "eviction",
    "policy",
    "memory",
    "limit",
    "keys",
    "ttl",
    "replica",
    "cluster",
    "shard",
    "latency",
]


def _search(rng: random.Random, n: int) -> str:
    hits = [
        {
            "title": " ".join(rng.choice(_WORDS) for _ in range(5)),
            "url": f"https://docs.example.com/guide/{i}/{rng.choice(_WORDS)}",
            "score": round(rng.random(), 4),
            "snippet": " ".join(rng.choice(_WORDS) for _ in range(rng.randint(8, 30))),
            "meta": {"lang": "en", "updated": f"2024-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}"},
        }
        for i in range(n)
    ]
    return json.dumps({"query": "redis eviction", "total": n, "results": hits}, indent=2)


def _events(rng: random.Random, n: int) -> str:
    rows = [
        {
            "ts": f"2024-05-01T10:{i // 60 % 60:02d}:{i % 60:02d}Z",
            "level": "error" if i % 97 == 5 else "info",
            "service": rng.choice(["api", "worker", "billing"]),
            "msg": f"{rng.choice(_STATUS)} request {i}",
            "latency_ms": rng.randint(1, 80) if i != 40 else 9000,
        }
        for i in range(n)
    ]
    return "\n".join(json.dumps(r) for r in rows) + "\n"


def inputs() -> dict[str, tuple[str, str, float]]:
    rng = random.Random(5)
    return {
        "search": (_search(rng, 300), "json", 0.2),
        "events": (_events(rng, 600), "json", 0.2),
        "app log": (log_samples.app_log(1500).text, "log", 0.05),
        "nginx log": (log_samples.nginx_log(1500).text, "log", 0.05),
    }


def _fields(result: CompressionResult) -> dict[str, Any]:
    """What a user receives, less the latency."""
    return result.model_dump(exclude={"latency_ms"})


@pytest.fixture
def store(tmp_path: Path) -> Iterator[OriginalStore]:
    yield OriginalStore.open(tmp_path / "originals.db")


@pytest.mark.parametrize("name", list(inputs()))
@pytest.mark.parametrize("budgeted", [True, False])
def test_deferred_json_round_trip_changes_no_output(
    name: str, budgeted: bool, store: OriginalStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    text, domain, rate = inputs()[name]
    kwargs: dict[str, Any] = {"domain": domain, "originals": store}
    if budgeted:
        kwargs["rate"] = rate
    fast = compress(text, **kwargs)
    monkeypatch.setattr(data, "DEFER_ROUND_TRIP", False)
    slow = compress(text, **kwargs)
    assert _fields(fast) == _fields(slow)
    assert fast.tokens_original == tokens.count_tokens(text)
    assert (fast.handle is not None) == budgeted  # both paths ran: lossy and lossless


def test_a_table_that_fails_its_round_trip_still_falls_back_when_it_is_returned(
    store: OriginalStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = _search(random.Random(2), 40)
    real = data.dump

    def broken(value: Any, tables: bool = True, layout: Any = None) -> str:
        out = real(value, tables, layout)
        return out.replace("redis", "REDIS", 1) if tables else out  # a writer bug

    monkeypatch.setattr(data, "dump", broken)
    fast = compress(text, domain="json", originals=store)
    monkeypatch.setattr(data, "DEFER_ROUND_TRIP", False)
    slow = compress(text, domain="json", originals=store)
    minified = json.dumps(json.loads(text), separators=(",", ":"), ensure_ascii=False)
    assert fast.compressed == slow.compressed == minified
    assert any("failed the round trip" in n for n in fast.notes)
    assert fast.tokens_compressed == slow.tokens_compressed == tokens.count_tokens(fast.compressed)


def test_json_fenced_in_markdown_is_checked_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the pipeline's top-level JSON pass defers its check: a fence is checked in place."""
    from compression_layer.compress.structural.dispatch import compress_structural
    from compression_layer.compress.types import Domain

    body = json.dumps([{"a": 1, "b": "redis"}, {"a": 2, "b": "redis"}, {"a": 3, "b": "x"}])
    real = data.dump

    def broken(value: Any, tables: bool = True, layout: Any = None) -> str:
        out = real(value, tables, layout)
        return out.replace("redis", "REDIS", 1) if tables else out

    monkeypatch.setattr(data, "dump", broken)
    with data.shared_parse():
        out = compress_structural(f"Some text.\n\n```json\n{body}\n```\n", Domain(kind="mixed"))
    assert "REDIS" not in out.text
    assert any("failed the round trip" in n for n in out.notes)


def test_a_long_inputs_count_is_remembered_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tokens, "PARALLEL_CHARS", 2_000)
    monkeypatch.setattr(tokens, "COUNT_CACHE_CHARS", 1_000)
    tokens.clear_count_cache()
    text = log_samples.app_log(300).text
    other = text.replace("INFO", "WARN", 1)  # same length, other content
    exact = len(tokens.encoding().encode_ordinary(text))
    assert tokens.remembered_count(text) is None
    assert tokens.count_tokens(text) == exact
    assert tokens.remembered_count(text) == exact
    assert tokens.remembered_count(other) is None
    assert tokens.count_tokens(other) == len(tokens.encoding().encode_ordinary(other))
    assert tokens.count_tokens_later(text).result() == exact
    assert tokens.remembered_count("short") is None
    mid = text[:1_500]  # counted in one piece, remembered all the same
    assert tokens.count_tokens(mid) == len(tokens.encoding().encode_ordinary(mid))
    assert tokens.remembered_count(mid) == tokens.count_tokens(mid)
    assert tokens.count_tokens_later(text[:1_200]).result() == tokens.remembered_count(text[:1_200])
    assert tokens.remembered_count(text[:900]) is None
    tokens.clear_count_cache()
    assert tokens.remembered_count(text) is None


def test_count_cache_keeps_only_the_latest(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tokens, "PARALLEL_CHARS", 100)
    monkeypatch.setattr(tokens, "COUNT_CACHE_CHARS", 100)
    monkeypatch.setattr(tokens, "COUNT_CACHE_SIZE", 2)
    tokens.clear_count_cache()
    texts = [f"line {i} " * 40 for i in range(3)]
    counts = [tokens.count_tokens(t) for t in texts]
    assert tokens.remembered_count(texts[0]) is None
    assert [tokens.remembered_count(t) for t in texts[1:]] == counts[1:]
    tokens.clear_count_cache()


# --- reduce_json's row scoring against its plain form ----------------------------------------


def _reference_looks_failed(item: Any) -> bool:
    """``json_lossy._looks_failed`` as first written: every key lower-cased in every row."""
    if type(item) is not Obj:
        return isinstance(item, str) and type(item) is not Num and bool(_FAILURE.search(item))
    for key, v in item:
        low = key.lower()
        if low in _ERROR_KEYS and v not in (None, False, "") and v != [] and v != Obj():
            return True
        if low in _STATUS_KEYS and isinstance(v, str) and _FAILURE.search(v):
            return True
        code = type(v) is Num and v.isdigit() and len(v) == 3
        if low in _CODE_KEYS and code and not 200 <= int(v) < 400:
            return True
        if low in ("ok", "success", "passed") and v is False:
            return True
    return False


def _reference_outliers(items: list[Any]) -> list[int]:
    """``json_lossy._outliers_and_changes`` as first written (columns in first-seen order)."""
    rows = [dict(item) if type(item) is Obj else {} for item in items]
    keys = list(dict.fromkeys(k for r in rows for k in r))
    found: dict[int, float] = {}
    for key in keys:
        column = [(i, r[key]) for i, r in enumerate(rows) if key in r]
        nums = []
        for i, v in column:
            if type(v) is Num:
                try:
                    x = float(v)
                except ValueError:
                    continue
                if math.isfinite(x):
                    nums.append((i, x))
        if len(nums) >= 8:
            values = [x for _, x in nums]
            med = statistics.median(values)
            mad = statistics.median(abs(x - med) for x in values)
            if mad > 0:
                for i, x in nums:
                    score = abs(x - med) / mad
                    if score > 6:
                        found[i] = max(found.get(i, 0.0), score)
        cats = [(i, v) for i, v in column if isinstance(v, str) and type(v) is not Num]
        if len(cats) >= 8 and len({v for _, v in cats}) <= max(2, len(cats) // 10):
            changes = [i for (_, a), (i, b) in itertools.pairwise(cats) if a != b]
            if len(changes) <= max(3, len(cats) // 10):
                for i in changes:
                    found[i] = max(found.get(i, 0.0), 6.0)
    return sorted(found, key=lambda i: -found[i])


def _reference_choose(
    array: Any, room: float, ratio: float, terms: list[str]
) -> tuple[set[int], bool]:
    """``json_lossy._choose`` as first written (a call per row for the run count, dicts)."""
    items, texts = array.items, array.texts
    n = len(items)
    lowered = [t.lower() for t in texts] if terms else []
    hits = [json_lossy.matches(t, terms) for t in lowered] if terms else [0] * n
    need = json_lossy.needed(terms)
    must = {0, n - 1}
    must.update(i for i in range(n) if terms and hits[i] >= need)
    must.update(i for i in range(n) if json_lossy._looks_failed(items[i]))
    scale = array.chars / max(1, sum(len(t) + 1 for t in texts)) / ratio
    cost = {i: len(texts[i]) * scale for i in range(n)}
    kept: set[int] = set(must)
    spent = sum(cost[i] for i in kept) + 22 * json_lossy._runs(kept, n)
    second = [i for i in json_lossy._outliers_and_changes(items) if i not in kept]
    for i in second[:3]:
        spent += cost[i] + 22 * json_lossy._run_delta(kept, i, n)
        kept.add(i)
    over = spent > room
    rest = sorted(
        (i for i in range(n) if i not in kept and i not in second), key=lambda i: -hits[i]
    )
    for i in [*second, *rest]:
        extra = cost[i] + 22 * json_lossy._run_delta(kept, i, n)
        if spent + extra > room:
            continue
        kept.add(i)
        spent += extra
    return kept, over


def _rows(rng: random.Random, n: int, uniform: bool = False) -> str:
    """Rows with every kind of value the scoring reads: outliers, category changes, status
    codes, error keys, failures in a status, a duplicated key, odd numbers, bare strings."""
    out: list[str] = []
    for i in range(n):
        if rng.random() < 0.03 and not uniform:
            out.append(json.dumps(rng.choice(["timeout on host", "fine", "panic: nil map"])))
            continue
        fields = [
            f'"id": {i}',
            f'"latency": {rng.choice([rng.randint(10, 30), rng.randint(10, 30), 9000, 1e308])}',
            '"region": "eu"' if i < n // 2 else '"region": "us"',
            '"Status": ' + json.dumps(rng.choice(["ok", "ok", "ok", "ok", "FAILED", "warning"])),
            '"code": ' + rng.choice(["200", "200", "204", "301", "404", "503", '"200"']),
        ]
        if uniform or rng.random() < 0.1:
            error = rng.choice(["null", "false", "[]", "{}", '"disk"', "null", "null"])
            fields.append(f'"Error": {error}')
        if uniform or rng.random() < 0.1:
            fields.append('"ok": ' + rng.choice(["true", "false", "true", "true", "1"]))
        if rng.random() < 0.05 and not uniform:
            fields.append('"id": "again"')  # a duplicated key
        if uniform or rng.random() < 0.05:
            fields.append(f'"ratio": {rng.choice(["1e400", "-0.0", "NaN", "2.5", "2.5", "3"])}')
        if not uniform:
            rng.shuffle(fields)
        out.append("{" + ", ".join(fields) + "}")
    return "[" + ",\n".join(out) + "]"


@pytest.mark.parametrize("seed", range(12))
def test_row_scoring_matches_its_plain_form(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(seed)
    uniform = seed % 2 == 1  # rows with one key order: read column by column
    text = _rows(rng, rng.choice([6, 40, 300]), uniform)
    items = exact_loads(text)
    columns = json_lossy._uniform_columns(items)
    assert (columns is not None) == uniform
    assert json_lossy._outliers_and_changes(items) == _reference_outliers(items)
    assert json_lossy._outliers_and_changes(items, columns) == _reference_outliers(items)
    failed = [_reference_looks_failed(x) for x in items]
    assert [json_lossy._looks_failed(x) for x in items] == failed
    assert json_lossy._failed_rows(items, columns) == failed
    query = rng.choice([None, "disk failed", "eu latency"])
    budget = max(20, tokens.count_tokens(text) // rng.choice([3, 10]))
    fast = json_lossy.reduce_json(text, JSON, budget=budget, query=query, handle=HANDLE)
    monkeypatch.setattr(json_lossy, "_outliers_and_changes", _reference_outliers)
    monkeypatch.setattr(json_lossy, "_looks_failed", _reference_looks_failed)
    monkeypatch.setattr(json_lossy, "_choose", _reference_choose)
    slow = json_lossy.reduce_json(text, JSON, budget=budget, query=query, handle=HANDLE)
    assert (fast and fast.text, fast and fast.omitted) == (
        slow and slow.text,
        slow and slow.omitted,
    )


# --- the collector held off while large JSON is parsed, written and reduced -----------------


def test_the_collector_is_held_off_during_a_json_compression_and_back_after(
    store: OriginalStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gc

    monkeypatch.setattr(data, "PAUSE_CHARS", 1_000)
    seen: list[bool] = []
    real = json_lossy.reduce_json

    def watching(*args: Any, **kwargs: Any) -> Any:
        seen.append(gc.isenabled())
        return real(*args, **kwargs)

    monkeypatch.setitem(lossy.PASSES, "json", watching)
    text, _, _ = inputs()["events"]
    assert gc.isenabled()
    result = compress(text, rate=0.2, domain="json", originals=store)
    assert result.handle is not None and seen == [False]
    assert gc.isenabled()
    seen.clear()
    compress('[{"a": 1}, {"a": 2}]', domain="json")  # short: left alone
    assert gc.isenabled()


def test_the_collector_stays_as_the_caller_left_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import gc

    monkeypatch.setattr(data, "PAUSE_CHARS", 1_000)
    text, _, _ = inputs()["search"]
    gc.disable()
    try:
        compress(text, domain="json")
        assert not gc.isenabled()
    finally:
        gc.enable()
    with pytest.raises(InputError):
        compress(text[:-3], domain="json")  # broken JSON past the size: an error, collector on
    assert gc.isenabled()
    with data.collector_paused(5_000), data.collector_paused(5_000):
        assert not gc.isenabled()
    assert gc.isenabled()
