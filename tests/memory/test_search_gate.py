"""Filtered search through the gate (memory/gate.py): a broad filter checks deeper unfiltered
candidate lists instead of listing every memory it lets through; the hits must be those of the
exact filtered search (every filter given as a pk list), for random filters over a few thousand
memories with scopes, metadata and tags."""

from __future__ import annotations

import random
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from compression_layer.memory import MemoryStore
from compression_layer.memory import gate as gate_module
from compression_layer.memory.db import Reader
from compression_layer.memory.filters import MemoryFilter, matches
from compression_layer.memory.gate import Gate, search_gate
from compression_layer.settings import MemorySettings
from memory_fakes import FakeEmbedder

NS = "g"
USERS = ["ann", "bob", "cy"]
KINDS = ["call", "mail", "chat", "note"]
START = date(2024, 1, 1)


def _items(n: int, rng: random.Random) -> list[dict[str, Any]]:
    vocab = [f"w{i}" for i in range(300)]
    out = []
    for i in range(n):
        item: dict[str, Any] = {
            "content": f"note {i} " + " ".join(rng.choices(vocab, k=rng.randint(6, 20))),
            "metadata": {
                "n": rng.randint(0, 99),
                "kind": rng.choice(KINDS),
                "due": (START + timedelta(days=rng.randint(0, 364))).isoformat(),
            },
            "tags": ["even"] if i % 2 == 0 else ["odd"],
        }
        if rng.random() < 0.7:
            item["user_id"] = rng.choice(USERS)
            if rng.random() < 0.4:
                item["run_id"] = f"r{rng.randint(0, 2)}"
        out.append(item)
    return out


def _random_filter(rng: random.Random) -> dict[str, Any]:
    kw: dict[str, Any] = {}
    if rng.random() < 0.5:
        kw["user_id"] = rng.choice(USERS)
    if rng.random() < 0.2:
        kw["run_id"] = f"r{rng.randint(0, 2)}"
    kw["all_scopes"] = rng.random() < 0.7
    conditions: dict[str, Any] = {}
    shape = rng.randint(0, 5)
    if shape == 1:
        conditions["kind"] = {"in": rng.sample(KINDS, rng.randint(1, 3))}
    elif shape == 2:
        low = rng.randint(0, 90)
        conditions["n"] = {"gte": low, "lt": low + rng.choice([2, 30, 80])}
    elif shape == 3:
        day = START + timedelta(days=rng.randint(0, 300))
        conditions["due"] = {"gte": day.isoformat(), "lte": (day + timedelta(days=60)).isoformat()}
    elif shape == 4:
        conditions["kind"] = rng.choice(KINDS)
        conditions["n"] = {"lt": rng.randint(10, 99)}
    elif shape == 5:  # two broad conditions that never hold together: nothing passes
        conditions["n"] = {"lt": 50, "gte": 60}
    if conditions:
        kw["filters"] = conditions
    return kw


@pytest.fixture
async def big_store(tmp_path: Path) -> Any:
    settings = MemorySettings(near_duplicate_policy="keep", synchronous="NORMAL", candidates=20)
    async with MemoryStore.open(
        tmp_path / "gate.sqlite3", settings=settings, embedder=FakeEmbedder()
    ) as store:
        rng = random.Random(17)
        await store.store_many(_items(3000, rng), namespace=NS, compress=False)
        await store.store_many(_items(300, rng), namespace="other", compress=False)
        yield store


def _key(hits: list[Any]) -> list[tuple[str, float, int | None, int | None]]:
    return [(h.id, round(h.score, 6), h.dense_rank, h.bm25_rank) for h in hits]


async def test_gated_search_gives_the_exact_filtered_hits(
    big_store: MemoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(5)
    vocab = [f"w{i}" for i in range(300)]
    compared = nonempty = 0
    for _ in range(40):
        kw = _random_filter(rng)
        query = " ".join(rng.sample(vocab, 3))
        mode = rng.choice(["hybrid", "dense", "bm25"])
        tags = ["even"] if rng.random() < 0.15 else None
        args = dict(namespace=NS, k=10, mode=mode, tags=tags, min_score=0.0, **kw)
        monkeypatch.setattr(gate_module, "NARROW", 10**9)  # every filter an exact pk list
        exact = await big_store.search(query, **args)  # type: ignore[arg-type]
        monkeypatch.setattr(gate_module, "NARROW", 0)  # every filter checked on candidates
        gated = await big_store.search(query, **args)  # type: ignore[arg-type]
        assert _key(gated) == _key(exact), (query, args)
        compared += 1
        nonempty += bool(exact)
        flt = MemoryFilter.of(
            user_id=kw.get("user_id"),
            run_id=kw.get("run_id"),
            metadata=kw.get("filters"),
            all_scopes=kw["all_scopes"],
        )
        for hit in gated:  # the Python rules agree with both paths' SQL
            assert hit.namespace == NS
            assert matches(flt, (hit.user_id, hit.agent_id, hit.run_id), hit.metadata)
            if tags:
                assert "even" in hit.tags
    assert compared == 40
    assert nonempty >= 25  # most filters let something through: the comparison means something


async def test_a_broad_filter_that_passes_few_falls_back_to_the_exact_list(
    big_store: MemoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # kind call (about 1/4) and n < 3 (about 3%) are each broad for NARROW 0, rare together.
    args: dict[str, Any] = dict(
        namespace=NS, k=10, min_score=0.0, all_scopes=True, filters={"kind": "call", "n": {"lt": 3}}
    )
    monkeypatch.setattr(gate_module, "NARROW", 10**9)
    exact = await big_store.search("w1 w2 w3 w4 w5", **args)
    monkeypatch.setattr(gate_module, "NARROW", 0)
    monkeypatch.setattr(gate_module, "CHECK_BUDGET", 50)
    gated = await big_store.search("w1 w2 w3 w4 w5", **args)
    assert exact
    assert _key(gated) == _key(exact)
    assert all(h.metadata["kind"] == "call" and h.metadata["n"] < 3 for h in gated)


async def test_gate_lists_narrow_filters_and_checks_broad_ones(big_store: MemoryStore) -> None:
    reader = await Reader.open(big_store.path, busy_timeout_ms=1000)
    try:
        unfiltered = await search_gate(reader, NS, MemoryFilter.of(all_scopes=True), None)
        assert unfiltered is None
        broad = await search_gate(
            reader, NS, MemoryFilter.of(all_scopes=True, metadata={"n": {"gte": 0}}), None
        )
        assert isinstance(broad, Gate) and broad.pks is None and broad.fts is None
        scope = await search_gate(reader, NS, MemoryFilter.of(user_id="ann"), None)
        assert isinstance(scope, Gate) and scope.fts is not None
        narrow = await search_gate(
            reader, NS, MemoryFilter.of(all_scopes=True, metadata={"n": 7, "kind": "mail"}), None
        )
        assert isinstance(narrow, Gate) and narrow.pks is not None
        # The narrow list holds exactly the memories the filter lets through.
        page = await big_store.list(
            NS, all_scopes=True, filters={"n": 7, "kind": "mail"}, limit=1000
        )
        assert len(narrow.pks) == len(page.items) > 0
        rng = random.Random(9)
        for _ in range(12):  # exact lists (every part narrow) hold what list() returns
            kw = _random_filter(rng)
            flt = MemoryFilter.of(
                user_id=kw.get("user_id"),
                run_id=kw.get("run_id"),
                metadata=kw.get("filters"),
                all_scopes=kw["all_scopes"],
            )
            gate_module.NARROW, saved = 10**9, gate_module.NARROW
            try:
                listed = await search_gate(reader, NS, flt, None)
            finally:
                gate_module.NARROW = saved
            expected: list[str] = []
            cursor = None
            while True:
                page = await big_store.list(NS, limit=1000, cursor=cursor, **kw)
                expected += [m.id for m in page.items]
                if page.next_cursor is None:
                    break
                cursor = page.next_cursor
            got = listed.pks if listed is not None and listed.pks is not None else None
            if got is not None:
                assert len(got) == len(expected)
        kept = await broad.keep(reader, narrow.pks)
        assert kept == narrow.pks
        assert await broad.keep(reader, [10**9]) == []
    finally:
        await reader.close()
