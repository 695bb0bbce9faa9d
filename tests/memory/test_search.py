"""Hybrid search, tags, token budgets, near-duplicate policies and bad input."""

from __future__ import annotations

import asyncio
import itertools
import json
from pathlib import Path

import pytest

from compression_layer.memory import MemoryInputError, MemoryStore
from compression_layer.memory.ranking import fts_query, pack, rrf
from compression_layer.memory.vectors import VectorIndex
from compression_layer.settings import MemorySettings
from memory_fakes import FakeCompressor, FakeEmbedder

DOCS = [
    "Alice moved to Lisbon in March to start a job at a robotics company.",
    "Bob adopted a grey cat named Pixel from the shelter downtown.",
    "The team decided to migrate the billing service from MySQL to Postgres.",
    "Alice's sister Carol is a marine biologist studying coral reefs.",
    "Quarterly planning happens on the first Monday of every quarter.",
]


@pytest.mark.parametrize("mode", ["hybrid", "dense", "bm25"])
async def test_every_mode_finds_the_matching_memory(store: MemoryStore, mode: str) -> None:
    stored = await store.store_many(DOCS, namespace="kb")
    hits = await store.search("billing service Postgres migrate", namespace="kb", k=3, mode=mode)  # type: ignore[arg-type]
    assert hits[0].id == stored[2].id
    assert hits[0].content == DOCS[2] and hits[0].compressed == stored[2].compressed
    assert len(hits) <= 3
    assert all(a.score >= b.score for a, b in itertools.pairwise(hits))


async def test_hybrid_reports_ranks_of_both_lists(store: MemoryStore) -> None:
    await store.store_many(DOCS, namespace="kb")
    top = (await store.search("grey cat Pixel", namespace="kb", k=1))[0]
    assert top.dense_rank == 1 and top.bm25_rank == 1


async def test_search_is_scoped_to_the_namespace(store: MemoryStore) -> None:
    await store.store_many(DOCS, namespace="kb")
    other = await store.store("a grey cat sleeps", namespace="other")
    hits = await store.search("grey cat", namespace="other")
    assert [h.id for h in hits] == [other.id]
    assert await store.search("grey cat", namespace="empty") == []


async def test_tags_filter_requires_all_tags(store: MemoryStore) -> None:
    a = await store.store(DOCS[0], tags=["people", "work"])
    await store.store(DOCS[3], tags=["people"])
    hits = await store.search("Alice", tags=["people", "work"])
    assert [h.id for h in hits] == [a.id]
    assert len(await store.search("Alice", tags=["people"])) == 2
    assert await store.search("Alice", tags=["nobody"]) == []


async def test_max_tokens_packs_the_best_hits_into_the_budget(store: MemoryStore) -> None:
    stored = await store.store_many(DOCS, namespace="kb")
    unlimited = await store.search("Alice Lisbon robotics sister", namespace="kb", k=5)
    budget = unlimited[0].tokens_compressed + 1
    packed = await store.search(
        "Alice Lisbon robotics sister", namespace="kb", k=5, max_tokens=budget
    )
    assert packed and packed[0].id == unlimited[0].id
    assert sum(h.tokens_compressed for h in packed) <= budget
    assert await store.search("Alice", namespace="kb", max_tokens=1) == []
    assert {h.id for h in unlimited} <= {m.id for m in stored}


async def test_fts_syntax_in_queries_is_inert(store: MemoryStore) -> None:
    memory = await store.store('he said "NEAR(x y)" AND -- DROP TABLE memories; col:val*')
    for query in ['"', "NEAR(", "col:val*", "AND OR NOT", "'; DROP TABLE memories; --", "***"]:
        hits = await store.search(query)
        assert all(h.id == memory.id for h in hits)
    assert (await store.stats()).memories == 1


async def test_concurrent_calls_from_one_event_loop(store: MemoryStore) -> None:
    async def writer(i: int) -> str:
        return (await store.store(f"note {i} about topic {i % 3}", namespace="c")).id

    ids = await asyncio.gather(*(writer(i) for i in range(30)))
    searches = await asyncio.gather(*(store.search(f"topic {i}", namespace="c") for i in range(3)))
    assert len(set(ids)) == 30
    assert all(searches)
    assert (await store.stats("c")).memories == 30


def test_fts_query_quotes_terms_and_drops_stopwords() -> None:
    assert fts_query("When did Caroline go to the LGBTQ support group?") == (
        '"caroline" OR "go" OR "lgbtq" OR "support" OR "group"'
    )
    assert fts_query("what is it") == '"what" OR "is" OR "it"'
    assert fts_query('x"y') == '"x" OR "y"'
    assert fts_query("?!") is None


def test_rrf_and_pack() -> None:
    fused = rrf([[1, 2, 3], [3, 1]], [1.0, 1.0], k=60)
    assert [pk for pk, _ in fused] == [1, 3, 2]
    assert pack([5, 50, 3, 4], budget=10, limit=10) == [0, 2]
    assert pack([1, 1, 1], budget=10, limit=2) == [0, 1]


def test_vector_index_append_upsert_remove() -> None:
    index = VectorIndex(2)
    eye = [[1.0, 0.0], [0.0, 1.0]]
    import numpy as np

    for pk, vec in zip([10, 20], eye, strict=True):
        index.append([pk], np.array([vec], dtype=np.float32))
    query = np.array([0.0, 1.0], dtype=np.float32)
    assert index.top(query, 1)[0][0] == 20
    index.upsert(10, np.array([0.0, 1.0], dtype=np.float32))
    assert {pk for pk, _ in index.top(query, 2)} == {10, 20}
    index.remove(20)
    assert index.size == 1 and index.top(query, 5)[0][0] == 10
    assert index.top(query, 5, allowed=[99]) == []


# -- near duplicates ------------------------------------------------------------------------------

NEAR_A = "Remember that the staging database password rotates every ninety days"
NEAR_B = "Remember that the staging database password rotates every ninety days!!"


@pytest.mark.parametrize("policy", ["skip", "update", "keep"])
async def test_near_duplicate_policy(db_path: Path, policy: str) -> None:
    settings = MemorySettings(
        near_duplicate_policy=policy,  # type: ignore[arg-type]
        near_duplicate_threshold=0.95,
        synchronous="NORMAL",
    )
    async with MemoryStore.open(
        db_path, settings=settings, compressor=FakeCompressor(), embedder=FakeEmbedder()
    ) as store:
        first = await store.store(NEAR_A, tags=["a"], metadata={"k": 1})
        second = await store.store(NEAR_B, tags=["b"], metadata={"j": 2})
        far = await store.store("Completely unrelated note about lunch")
        in_batch = await store.store_many([NEAR_A + " .", "other text entirely here"])
        # The same words as a question: similar, but '?' is a meaning operator, so it is kept.
        question = await store.store(NEAR_A + "?")
        count = (await store.stats()).memories
    assert far.status == "created"
    assert question.status == "created" and question.id != first.id
    if policy == "skip":
        assert second.status == "near_duplicate_skipped" and second.id == first.id
        assert second.content == NEAR_A
        # The skipped text's labels are not lost: they are merged into the memory kept.
        assert second.tags == ["a", "b"] and second.metadata == {"k": 1, "j": 2}
        assert second.notes == ["tags added: b", "metadata keys set: j"]
        assert in_batch[0].status == "near_duplicate_skipped"
        assert count == 4
    elif policy == "update":
        assert second.status == "near_duplicate_updated" and second.id == first.id
        assert second.content == NEAR_B
        assert second.tags == ["a", "b"] and second.metadata == {"k": 1, "j": 2}
        assert in_batch[0].id == first.id
        assert count == 4
    else:
        assert second.status == "created" and second.id != first.id
        assert count == 6


async def test_near_duplicates_within_one_batch_under_skip(db_path: Path) -> None:
    settings = MemorySettings(near_duplicate_policy="skip", synchronous="NORMAL")
    async with MemoryStore.open(
        db_path, settings=settings, compressor=FakeCompressor(), embedder=FakeEmbedder()
    ) as store:
        out = await store.store_many([NEAR_A, NEAR_B])
    assert [m.status for m in out] == ["created", "near_duplicate_skipped"]
    assert out[0].id == out[1].id


# -- bad input ------------------------------------------------------------------------------------

HOSTILE = ["'; DROP TABLE memories; --", 'tag "quoted"', "Robert'); --", "%_*", "日本語 🙂"]
HOSTILE_META = {
    "sql": "1; DELETE FROM memories WHERE 1=1; --",
    "quote'key\"": ["'", '"', "\\", "\\u0000 text"],
    "nested": {"x": {"y": [1, -0.5, 1e300, None, False]}},
    "emoji": "🙂",
}


async def test_hostile_tags_and_metadata_are_stored_verbatim(store: MemoryStore) -> None:
    memory = await store.store(
        "content with 'quotes' and \"double\" -- ;", tags=HOSTILE, metadata=HOSTILE_META
    )
    got = await store.get(memory.id)
    assert got.tags == HOSTILE
    assert got.metadata == HOSTILE_META
    assert json.dumps(got.metadata, sort_keys=True) == json.dumps(HOSTILE_META, sort_keys=True)
    assert [h.id for h in await store.search("quotes", tags=[HOSTILE[0]])] == [memory.id]
    assert (await store.stats()).memories == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"content": ""}, "empty"),
        ({"content": "   \n"}, "empty"),
        ({"content": "x" * 101}, "over the limit"),
        ({"content": "a\x00b"}, "NUL"),
        ({"content": "lone \ud800 surrogate"}, "Unicode"),
        ({"content": "ok", "namespace": "bad ns"}, "invalid namespace"),
        ({"content": "ok", "namespace": "../etc"}, "invalid namespace"),
        ({"content": "ok", "namespace": "a'; DROP"}, "invalid namespace"),
        ({"content": "ok", "namespace": ""}, "invalid namespace"),
        ({"content": "ok", "tags": "single"}, "list of strings"),
        ({"content": "ok", "tags": [""]}, "invalid tag"),
        ({"content": "ok", "tags": ["a\nb"]}, "control"),
        ({"content": "ok", "metadata": {1: "int key"}}, "round-trip"),
        ({"content": "ok", "metadata": {"t": (1, 2)}}, "round-trip"),
        ({"content": "ok", "metadata": {"x": float("nan")}}, "JSON"),
        ({"content": "ok", "metadata": {"x": object()}}, "JSON"),
        ({"content": "ok", "metadata": ["not", "a", "dict"]}, "JSON object"),
    ],
)
async def test_bad_input_is_refused_and_nothing_is_stored(
    db_path: Path, kwargs: dict[str, object], message: str
) -> None:
    settings = MemorySettings(max_content_bytes=100, synchronous="NORMAL")
    async with MemoryStore.open(
        db_path, settings=settings, compressor=FakeCompressor(), embedder=FakeEmbedder()
    ) as store:
        content = kwargs.pop("content")
        with pytest.raises(MemoryInputError, match=message):
            await store.store(content, **kwargs)  # type: ignore[arg-type]
        with pytest.raises(MemoryInputError):
            await store.store_many(["fine item", {"content": content, **kwargs}])
        assert (await store.stats()).memories == 0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"query": ""},
        {"query": "x", "k": 0},
        {"query": "x", "k": 5000},
        {"query": "x", "mode": "z"},
        {"query": "x", "max_tokens": 0},
        {"query": "x", "namespace": "no/slash"},
    ],
)
async def test_bad_search_arguments(store: MemoryStore, kwargs: dict[str, object]) -> None:
    with pytest.raises(MemoryInputError):
        await store.search(**kwargs)  # type: ignore[arg-type]


async def test_bad_list_arguments(store: MemoryStore) -> None:
    with pytest.raises(MemoryInputError):
        await store.list("default", limit=0)
    with pytest.raises(MemoryInputError):
        await store.list("default", cursor="1; DROP TABLE memories")


async def test_cached_vectors_see_another_connections_writes(db_path: Path) -> None:
    settings = MemorySettings(near_duplicate_policy="keep", synchronous="NORMAL")
    embedder = FakeEmbedder()
    async with (
        MemoryStore.open(db_path, settings=settings, embedder=embedder) as a,
        MemoryStore.open(db_path, settings=settings, embedder=embedder) as b,
    ):
        await a.store("first note about apples", compress=False)
        assert len(await a.search("apples", mode="dense")) == 1  # a now caches the matrix
        late = await b.store("second note about apples", compress=False)
        assert late.id in [h.id for h in await a.search("apples", mode="dense")]
        await b.delete(late.id)
        assert late.id not in [h.id for h in await a.search("apples", mode="dense")]


@pytest.mark.parametrize("policy", ["skip", "update"])
async def test_near_duplicates_with_different_numbers_are_both_kept(
    db_path: Path, policy: str
) -> None:
    settings = MemorySettings(
        near_duplicate_policy=policy,  # type: ignore[arg-type]
        near_duplicate_threshold=0.5,  # every pair below is "near" by vector alone
        synchronous="NORMAL",
    )
    async with MemoryStore.open(
        db_path, settings=settings, compressor=FakeCompressor(), embedder=FakeEmbedder()
    ) as store:
        old = await store.store("The API key expires on 2024-05-01, rotate it before.")
        new = await store.store("The API key expires on 2024-06-01, rotate it before.")
        same = await store.store("The API key expires on 2024-06-01 , rotate it before!")
        count = (await store.stats()).memories
    assert new.status == "created" and new.id != old.id
    assert same.id == new.id and same.status != "created"
    assert count == 2


def test_same_facts() -> None:
    from compression_layer.memory.ranking import same_facts

    assert same_facts("meeting at 3pm.", "Meeting at 3PM")
    assert not same_facts("meeting at 3pm", "meeting at 4pm")
    assert not same_facts("v1.2 released", "v1.3 released")
    assert same_facts("no numbers here", "none here either")
