"""Tag filters as indexed queries, the tag index kept in step with every write, and reads that
are not queued behind a search or a write."""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from compression_layer.memory import MemoryStore
from compression_layer.memory import vectors as vectors_module
from compression_layer.memory.vectors import VectorIndex, positions, top_rows
from compression_layer.settings import MemorySettings
from memory_fakes import FakeCompressor, FakeEmbedder

WAIT_S = 30.0  # bound on every wait below: a deadlock fails the test instead of hanging it

WORDS = ["apple", "pear", "plum", "fig", "kiwi", "lime", "date", "melon", "grape", "peach"]
WORDS += ["cherry", "mango"]


def _items(n: int) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        # Three numbers apart, so no two notes pass for versions of one statement (which
        # search would reorder, see ranking.newer_first).
        text = f"note {i} about {WORDS[i % 12]} and {WORDS[(i * 5) % 12]}, box {i * 7}, owner{i}"
        tags = [f"t{i % 3}"] + (["rare"] if i % 10 == 4 else [])
        out.append({"content": text, "tags": tags})
    return out


def _tag_rows(db: Path) -> set[tuple[str, str, str]]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT t.namespace, t.tag, m.id FROM memory_tags t "
            "JOIN memories m ON m.pk = t.memory_pk"
        )
        return {(str(ns), str(tag), str(mid)) for ns, tag, mid in rows}


def _expected_tag_rows(db: Path) -> set[tuple[str, str, str]]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT m.namespace, j.value, m.id FROM memories m, json_each(m.tags) j "
            "WHERE m.deleted_at IS NULL"  # a deleted memory leaves the tag index
        ).fetchall()
        return {(str(ns), str(tag), str(mid)) for ns, tag, mid in rows}


@pytest.mark.parametrize("mode", ["dense", "bm25"])
async def test_a_filtered_search_ranks_the_tagged_memories_as_an_unfiltered_one_does(
    store: MemoryStore, mode: str
) -> None:
    await store.store_many(_items(120), namespace="fruit")
    await store.store_many(_items(30), namespace="other")  # same tags, another namespace
    compared = 0
    for query in ("apple and pear", "kiwi box 28", "grape mango"):
        everything = await store.search(query, namespace="fruit", k=1000, mode=mode)  # type: ignore[arg-type]
        for tags in (["rare"], ["t1"], ["rare", "t1"]):
            want = [h for h in everything if set(tags) <= set(h.tags)]
            got = await store.search(query, namespace="fruit", k=1000, tags=tags, mode=mode)  # type: ignore[arg-type]
            assert all(h.namespace == "fruit" for h in got)
            # The same memories in the same order (scores are ranks within what was searched,
            # so they differ; memories tied unfiltered may come in either order).
            assert {h.id for h in got} == {h.id for h in want}, (query, tags)
            place = {h.id: i for i, h in enumerate(got)}
            for a, b in itertools.pairwise(want):
                assert a.score == b.score or place[a.id] < place[b.id], (query, tags)
            assert [h.score for h in got] == sorted((h.score for h in got), reverse=True)
            compared += len(got)
    assert compared > 20


async def test_hybrid_filter_keeps_only_memories_with_every_tag(store: MemoryStore) -> None:
    await store.store_many(_items(60), namespace="fruit")
    hits = await store.search("note about apple", namespace="fruit", k=50, tags=["rare", "t0"])
    assert hits and all({"rare", "t0"} <= set(h.tags) for h in hits)
    assert len(hits) == sum(1 for i in range(60) if i % 10 == 4 and i % 3 == 0)
    assert await store.search("apple", namespace="fruit", tags=["no-such-tag"]) == []
    assert await store.search("apple", namespace="nowhere", tags=["rare"]) == []


async def test_the_tag_index_follows_every_kind_of_write(store: MemoryStore, db_path: Path) -> None:
    first = await store.store("The pantry has apples", namespace="home", tags=["food"])
    again = await store.store("The pantry has apples", namespace="home", tags=["food", "kitchen"])
    assert again.id == first.id and again.notes == ["tags added: kitchen"]
    hits = await store.search("pantry", namespace="home", tags=["kitchen"])
    assert [h.id for h in hits] == [first.id]
    await store.update(first.id, tags=["garden"])
    assert await store.search("pantry", namespace="home", tags=["kitchen"]) == []
    assert [h.id for h in await store.search("pantry", namespace="home", tags=["garden"])] == [
        first.id
    ]
    await store.update(first.id, content="The pantry has pears now")
    assert [h.id for h in await store.search("pears", namespace="home", tags=["garden"])] == [
        first.id
    ]
    other = await store.store("Bread is in the box", namespace="home", tags=["food"])
    await store.store_many(_items(20), namespace="bulk")
    assert _tag_rows(db_path) == _expected_tag_rows(db_path)
    await store.delete(other.id)
    await store.delete_namespace("bulk")
    assert _tag_rows(db_path) == _expected_tag_rows(db_path) == {("home", "garden", first.id)}


async def test_a_skipped_near_duplicate_hands_its_tags_to_the_index(db_path: Path) -> None:
    settings = MemorySettings(near_duplicate_policy="skip", synchronous="NORMAL")
    async with MemoryStore.open(
        db_path, settings=settings, compressor=FakeCompressor(), embedder=FakeEmbedder()
    ) as store:
        kept = await store.store("Remember the staging password rotates", tags=["ops"])
        skipped = await store.store("Remember the staging password rotates!", tags=["security"])
        assert skipped.status == "near_duplicate_skipped" and skipped.id == kept.id
        hits = await store.search("staging password", tags=["security"])
        assert [h.id for h in hits] == [kept.id]
    assert _tag_rows(db_path) == _expected_tag_rows(db_path)


async def test_a_get_answers_while_a_filtered_search_is_scoring(
    store: MemoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dense scoring of a search is held in its worker thread; a get, a list, a write and an
    update of a row being scored all finish meanwhile, and the search then ends normally."""
    stored = await store.store_many(_items(40), namespace="fruit")
    await store.search("warm the vector cache", namespace="fruit")
    scoring, release = threading.Event(), threading.Event()
    real = top_rows

    def held_top_rows(*args: Any, **kwargs: Any) -> Any:
        scoring.set()
        assert release.wait(WAIT_S), "the test never released the search"
        return real(*args, **kwargs)

    monkeypatch.setattr(vectors_module, "top_rows", held_top_rows)
    search = asyncio.create_task(
        store.search("apple and pear", namespace="fruit", tags=["rare"], k=5)
    )
    try:
        assert await asyncio.to_thread(scoring.wait, WAIT_S), "the search never started scoring"
        got = await asyncio.wait_for(store.get(stored[4].id), WAIT_S)
        assert got.content == stored[4].content
        page = await asyncio.wait_for(store.list("fruit", limit=5), WAIT_S)
        assert len(page.items) == 5
        new = await asyncio.wait_for(store.store("A fresh fig note", namespace="fruit"), WAIT_S)
        assert new.status == "created"
        # Rewrites the vector of a row the search is scoring: the matrix is copied, not torn.
        await asyncio.wait_for(store.update(stored[14].id, content="kiwi only now"), WAIT_S)
        assert not search.done(), "the search finished before it was released"
    finally:
        release.set()
    hits = await asyncio.wait_for(search, WAIT_S)
    assert hits and all("rare" in h.tags for h in hits)


async def test_reads_answer_while_a_write_transaction_is_open(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write holds the store's write lock (and SQLite's) while it checks near-duplicates; get,
    list, stats and a BM25 search do not wait for it."""
    settings = MemorySettings(near_duplicate_policy="skip", synchronous="NORMAL")
    async with MemoryStore.open(
        db_path, settings=settings, compressor=FakeCompressor(), embedder=FakeEmbedder()
    ) as store:
        first = await store.store("The kiln fires at noon", namespace="shop", tags=["kiln"])
        in_write, release = threading.Event(), threading.Event()
        real = VectorIndex.above

        def held_above(self: VectorIndex, *args: Any) -> Any:
            in_write.set()
            assert release.wait(WAIT_S), "the test never released the write"
            return real(self, *args)

        monkeypatch.setattr(VectorIndex, "above", held_above)
        write = asyncio.create_task(store.store("Glaze dries overnight", namespace="shop"))
        try:
            assert await asyncio.to_thread(in_write.wait, WAIT_S), "the write never started"
            assert (await asyncio.wait_for(store.get(first.id), WAIT_S)).id == first.id
            assert (await asyncio.wait_for(store.stats(), WAIT_S)).memories == 1
            assert len((await asyncio.wait_for(store.list("shop"), WAIT_S)).items) == 1
            hits = await asyncio.wait_for(
                store.search("kiln", namespace="shop", tags=["kiln"], mode="bm25"), WAIT_S
            )
            assert [h.id for h in hits] == [first.id]
            assert not write.done()
        finally:
            release.set()
        assert (await asyncio.wait_for(write, WAIT_S)).status == "created"


def test_positions_and_top_rows_against_brute_force() -> None:
    rng = np.random.default_rng(3)
    pks = np.sort(rng.choice(10_000, size=500, replace=False)).astype(np.int64)
    vecs = rng.standard_normal((500, 8)).astype(np.float32)
    query = rng.standard_normal(8).astype(np.float32)
    wanted = np.sort(np.concatenate([rng.choice(pks, 40, replace=False), [-5, 20_000]]))
    shuffled = rng.permutation(500)
    for order, ascending in ((np.arange(500), True), (shuffled, False)):
        rows = positions(pks[order], ascending, wanted.astype(np.int64))
        assert sorted(pks[order][rows].tolist()) == sorted(set(wanted.tolist()) & set(pks.tolist()))
        for allowed in (None, wanted.tolist(), pks[:300].tolist()):
            got = top_rows(pks[order], vecs[order], ascending, query, 10, allowed)
            keep = [i for i in range(500) if allowed is None or int(pks[i]) in set(allowed)]
            scores = vecs[keep] @ query
            best = [int(pks[keep][i]) for i in np.argsort(-scores)[:10]]
            assert [pk for pk, _ in got] == best


def test_vector_index_keeps_a_scored_snapshot_intact() -> None:
    index = VectorIndex(2)
    index.append([1, 2, 3], np.eye(3, 2, dtype=np.float32))
    pks, snapshot = index.pks, index.vectors
    before = snapshot.copy()
    index.readers += 1  # a worker thread is scoring the snapshot
    index.upsert(2, np.array([5.0, 5.0], dtype=np.float32))
    index.append([4], np.array([[1.0, 1.0]], dtype=np.float32))
    index.remove(1)
    assert np.array_equal(snapshot, before) and pks.tolist() == [1, 2, 3]
    assert index.pks.tolist() == [2, 3, 4] and index.vectors[0].tolist() == [5.0, 5.0]
    index.readers -= 1
    index.upsert(3, np.array([7.0, 7.0], dtype=np.float32))  # no reader: in place
    assert index.vectors[1].tolist() == [7.0, 7.0]
    assert index.ascending
    index.append([0], np.array([[0.0, 1.0]], dtype=np.float32))
    assert not index.ascending and index.position(0) == 3 and index.position(9) is None


async def test_a_cancelled_search_leaves_the_store_usable(
    store: MemoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    stored = await store.store_many(_items(30), namespace="fruit")
    scoring, release = threading.Event(), threading.Event()
    real = top_rows

    def held_top_rows(*args: Any, **kwargs: Any) -> Any:
        scoring.set()
        assert release.wait(WAIT_S), "the test never released the search"
        return real(*args, **kwargs)

    monkeypatch.setattr(vectors_module, "top_rows", held_top_rows)
    search = asyncio.create_task(store.search("apple", namespace="fruit", tags=["t1"]))
    try:
        assert await asyncio.to_thread(scoring.wait, WAIT_S)
        search.cancel()
        with pytest.raises(asyncio.CancelledError):
            await search
    finally:
        release.set()
    monkeypatch.setattr(vectors_module, "top_rows", real)
    for _ in range(6):  # more than the pool holds: a dropped reader is not waited for
        assert (await asyncio.wait_for(store.get(stored[1].id), WAIT_S)).id == stored[1].id
        hits = await asyncio.wait_for(store.search("apple", namespace="fruit", tags=["t1"]), WAIT_S)
        assert hits and all("t1" in h.tags for h in hits)
