"""The throughput shortcuts of the reversible tier change no output a user receives.

Each shortcut (the JSON round trip left until the lossless output is returned, remembered token
counts of long inputs, ...) is compared with the path that does the work at once, on small
inputs like those of ``bench/throughput.py``: the same compressed text, markers, notes and
token counts.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import log_samples
from compression_layer import tokens
from compression_layer.compress.pipeline import compress
from compression_layer.compress.structural import data
from compression_layer.compress.types import CompressionResult
from compression_layer.originals.store import OriginalStore

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
    tokens.clear_count_cache()
    assert tokens.remembered_count(text) is None


def test_count_cache_keeps_only_the_latest(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tokens, "PARALLEL_CHARS", 100)
    monkeypatch.setattr(tokens, "COUNT_CACHE_SIZE", 2)
    tokens.clear_count_cache()
    texts = [f"line {i} " * 40 for i in range(3)]
    counts = [tokens.count_tokens(t) for t in texts]
    assert tokens.remembered_count(texts[0]) is None
    assert [tokens.remembered_count(t) for t in texts[1:]] == counts[1:]
    tokens.clear_count_cache()
