"""Search scores through the store: ranges, ``min_score``, recency ties and decay, and the
calibrated scores of the packaged MiniLM (a nonsense query finds nothing)."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from compression_layer.memory import MemoryInputError, MemoryStore
from compression_layer.settings import MemorySettings
from memory_fakes import FakeCompressor, FakeEmbedder

DOCS = [
    "Alice moved to Lisbon in March to start a job at a robotics company.",
    "Bob adopted a grey cat named Pixel from the shelter downtown.",
    "The team decided to migrate the billing service from MySQL to Postgres.",
    "Alice's sister Carol is a marine biologist studying coral reefs.",
]


async def dated(tmp_path: Path, items: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """Export records of ``items`` (text, ISO time) made in a scratch store, times set."""
    settings = MemorySettings(near_duplicate_policy="keep", synchronous="NORMAL")
    async with MemoryStore.open(
        tmp_path / "scratch.db",
        settings=settings,
        compressor=FakeCompressor(),
        embedder=FakeEmbedder(),
    ) as scratch:
        for text, _ in items:
            await scratch.store(text, namespace="t")
        records = [r async for r in scratch.export("t")]
    when = {text: at for text, at in items}
    for r in records:
        r["created_at"] = r["updated_at"] = when[r["content"]]
    return records


@pytest.mark.parametrize("mode", ["hybrid", "dense", "bm25"])
async def test_scores_lie_in_0_1_and_never_rise_down_the_list(
    store: MemoryStore, mode: str
) -> None:
    await store.store_many(DOCS, namespace="kb")
    hits = await store.search("grey cat Pixel shelter", namespace="kb", mode=mode)  # type: ignore[arg-type]
    assert hits and hits[0].content == DOCS[1]
    assert all(0.0 <= h.score <= 1.0 for h in hits)
    assert all(a.score >= b.score for a, b in itertools.pairwise(hits))


async def test_min_score_drops_the_weaker_hits(store: MemoryStore) -> None:
    await store.store_many(DOCS, namespace="kb")
    every = await store.search("Alice grey cat", namespace="kb", min_score=0.0)
    assert every[0].score > every[-1].score
    cut = (every[0].score + every[-1].score) / 2
    strong = await store.search("Alice grey cat", namespace="kb", min_score=cut)
    assert [h.id for h in strong] == [h.id for h in every if h.score >= cut]
    assert 0 < len(strong) < len(every)
    assert await store.search("Alice grey cat", namespace="kb", min_score=1.0) == [
        h for h in every if h.score >= 1.0
    ]


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), "0.5", True])
async def test_min_score_must_be_a_number_from_0_to_1(store: MemoryStore, bad: Any) -> None:
    with pytest.raises(MemoryInputError, match="min_score"):
        await store.search("anything", min_score=bad)


async def test_equal_scores_put_the_newer_memory_first(store: MemoryStore, tmp_path: Path) -> None:
    # The same words in another order: the same bag-of-words vector and the same BM25 score.
    records = await dated(
        tmp_path,
        [
            ("grey cat sleeps on the mat", "2025-01-01T00:00:00+00:00"),
            ("on the mat sleeps grey cat", "2025-06-01T00:00:00+00:00"),
            ("the mat grey cat sleeps on", "2025-03-01T00:00:00+00:00"),
        ],
    )
    await store.import_records(records)
    hits = await store.search("grey cat mat", namespace="t")
    assert len({h.score for h in hits}) == 1
    assert [h.content for h in hits] == [
        "on the mat sleeps grey cat",
        "the mat grey cat sleeps on",
        "grey cat sleeps on the mat",
    ]


async def test_decay_lets_a_recent_memory_overtake_an_old_better_match(
    db_path: Path, tmp_path: Path
) -> None:
    records = await dated(
        tmp_path,
        [
            ("Pixel the grey cat of the shelter", "2020-01-01T00:00:00+00:00"),
            ("a cat was seen", "2025-01-01T00:00:00+00:00"),
        ],
    )
    plain = MemorySettings(near_duplicate_policy="keep", synchronous="NORMAL")
    async with MemoryStore.open(
        db_path, settings=plain, compressor=FakeCompressor(), embedder=FakeEmbedder()
    ) as store:
        await store.import_records(records)
        query = "Pixel grey cat shelter"
        before = await store.search(query, namespace="t")
        assert before[0].content.startswith("Pixel")
        store.settings = plain.model_copy(update={"recency_half_life_days": 180.0})
        after = await store.search(query, namespace="t")
        assert [h.content for h in after] == [h.content for h in reversed(before)]
        old = next(h for h in after if h.content.startswith("Pixel"))
        old_before = next(h for h in before if h.content.startswith("Pixel"))
        # Five years and more at a 180-day half-life: about 2^-10 of its score is left.
        assert old.score < old_before.score / 500


def test_the_half_life_setting_must_be_positive() -> None:
    with pytest.raises(ValueError):
        MemorySettings(recency_half_life_days=0)
    assert MemorySettings().recency_half_life_days is None
    assert MemorySettings().min_score == 0.005


@pytest.mark.slow
async def test_minilm_scores_are_calibrated_and_nonsense_finds_nothing(tmp_path: Path) -> None:
    from compression_layer.embeddings import load_embedder

    settings = MemorySettings(near_duplicate_policy="keep", synchronous="NORMAL")
    async with MemoryStore.open(
        tmp_path / "m.db", settings=settings, compressor=FakeCompressor(), embedder=load_embedder()
    ) as store:
        stored = await store.store_many(
            [
                "Caroline went to the LGBTQ support group on 7 May and found it inspiring.",
                "Melanie painted a sunrise over the lake last year.",
                "Caroline is researching adoption agencies because she wants to be a mum.",
                "Melanie ran a charity race for mental health on a Saturday.",
            ]
        )
        hits = await store.search("When did Caroline go to the support group?")
        assert hits[0].id == stored[0].id
        assert 0.05 < hits[0].score <= 1.0
        assert all(a.score >= b.score for a, b in itertools.pairwise(hits))
        for nonsense in ["qzxv plorbt wemcy", "carburetor tariff isotope sonnet"]:
            assert await store.search(nonsense) == []
            assert await store.search(nonsense, min_score=0.0)  # the threshold dropped them


@pytest.mark.slow
async def test_minilm_ranks_the_newer_of_two_contradicting_memories_first(tmp_path: Path) -> None:
    from compression_layer.embeddings import load_embedder

    settings = MemorySettings(near_duplicate_policy="keep", synchronous="NORMAL")
    async with MemoryStore.open(
        tmp_path / "m.db", settings=settings, compressor=FakeCompressor(), embedder=load_embedder()
    ) as store:
        old = await store.store("Alice lives in Paris.", user_id="u1")
        other = await store.store("Alice lives in Paris.", user_id="u2")
        new = await store.store("Alice moved to Berlin.", user_id="u1")
        hits = await store.search("Where does Alice live? Paris?", user_id="u1", min_score=0)
        assert [h.id for h in hits] == [new.id, old.id]
        assert hits[1].superseded_by == new.id and hits[0].superseded_by is None
        # The other user's memory is not corrected by u1's move.
        theirs = await store.search("Where does Alice live? Paris?", user_id="u2", min_score=0)
        assert [h.id for h in theirs] == [other.id] and theirs[0].superseded_by is None


async def test_hybrid_search_lifts_the_memory_stored_after_a_match(
    store: MemoryStore,
) -> None:
    question, answer, other = await store.store_many(
        [
            "Melanie asked what Caroline painted last weekend",
            "a sunrise over the lake, with purple clouds",
            "the bus timetable changes in winter",
        ],
        namespace="chat",
    )
    await store.store("Melanie painted too", namespace="elsewhere")
    query = "what did Caroline paint last weekend"
    lifted = {h.id: h.score for h in await store.search(query, namespace="chat")}
    store.settings = store.settings.model_copy(update={"neighbour_weight": 0.0})
    plain = {h.id: h.score for h in await store.search(query, namespace="chat")}
    assert lifted[answer.id] > plain.get(answer.id, 0.0)
    assert lifted[answer.id] > lifted.get(other.id, 0.0)
    assert lifted[question.id] == plain[question.id]


@pytest.mark.parametrize("mode", ["bm25", "hybrid"])
async def test_lexical_candidates_are_the_same_whichever_fts_query_finds_them(
    store: MemoryStore, mode: str
) -> None:
    # "big" holds most of the store (the store-wide BM25 pass serves it), "small" a few
    # memories drowned by big's matches (the pass comes up short: the filtered query serves it).
    words = ["apple", "pear", "plum", "fig", "kiwi", "lime"]
    big = [
        {
            "content": f"note {i}: {words[i % 6]} {words[(i * 5) % 6]} basket {i % 7}",
            "tags": ["all"],
        }
        for i in range(400)
    ]
    for start in range(0, len(big), 200):
        await store.store_many(big[start : start + 200], namespace="big")
    await store.store_many(
        [{"content": f"small {w} crate", "tags": ["all"]} for w in words], namespace="small"
    )
    for namespace in ("big", "small", "big"):
        for query in ("apple basket", "kiwi lime crate", "fig"):
            plain = await store.search(query, namespace=namespace, k=50, mode=mode)  # type: ignore[arg-type]
            # A tag every memory carries takes the pk-list query path: the reference.
            listed = await store.search(query, namespace=namespace, k=50, mode=mode, tags=["all"])  # type: ignore[arg-type]
            assert [h.id for h in plain] == [h.id for h in listed], (namespace, query)
            assert [h.score for h in plain] == pytest.approx([h.score for h in listed])
            assert all(h.namespace == namespace for h in plain)
            assert plain
