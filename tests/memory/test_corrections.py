"""Memory never discards a correction (issue 13).

A near-duplicate is similar *and* states the same facts and meaning operators; a similar text
that differs in a fact ("4pm") or an operator ("not", "may", "?") is a correction or a new
statement: it is kept, and search ranks the newer version first. Store tests use the packaged
MiniLM (ONNX, offline), since the similarities that matter are MiniLM's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from compression_layer.memory import MemoryStore
from compression_layer.memory.ranking import Version, is_version, meaning_differences, newer_first
from compression_layer.settings import MemorySettings
from memory_fakes import FakeCompressor

ALLERGIC = "Priya is allergic to peanuts."
NOT_ALLERGIC = "Priya is not allergic to peanuts."

# -- the meaning check ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (ALLERGIC, NOT_ALLERGIC, ["not"]),
        (ALLERGIC, "Priya isn't allergic to peanuts.", ["not"]),
        (ALLERGIC, "Priya isn’t allergic to peanuts.", ["not"]),  # curly apostrophe
        (ALLERGIC, "Priya isnt allergic to peanuts.", ["not"]),  # apostrophe left out
        (ALLERGIC, "Is Priya allergic to peanuts?", ["?"]),
        (ALLERGIC, "Marco is allergic to peanuts.", ["Priya", "Marco"]),
        ("The meeting is at 3pm.", "The meeting is at 4pm.", ["3pm", "4pm"]),
        ("Dana may attend the offsite.", "Dana will attend the offsite.", ["may"]),
        ("Deploy only if tests pass.", "Deploy if tests pass.", ["only if"]),
        ("Costs more than $5.", "Costs $5.", ["more than"]),
        # Not a difference in meaning: layout, punctuation, case, how a negation is spelled.
        (ALLERGIC, "Priya is  allergic to peanuts!", []),
        ("meeting at 3pm.", "Meeting at 3PM", []),
        ("You shouldn't wait.", "You should not wait.", []),
        ("I cannot come.", "I can't come.", []),
        ("She isn't here.", "She is not here.", []),
    ],
)
def test_meaning_differences(a: str, b: str, expected: list[str]) -> None:
    # The exact operator keys belong to compress.operators; what matters here is that the
    # difference is found (both ways round) or that there is none.
    for x, y in ((a, b), (b, a)):
        found = meaning_differences(x, y)
        assert set(expected) <= set(found) and bool(found) == bool(expected)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (ALLERGIC, NOT_ALLERGIC, True),
        ("The meeting is at 3pm.", "The meeting is at 4pm.", True),
        ("Budget: $5,000.", "Budget: $7,500.", True),
        (ALLERGIC, "Priya is allergic to peanuts!", False),  # no difference in meaning
        # Two chat turns MiniLM puts at 0.93: other words, not a rewrite of one statement.
        (
            "Gina (2:32 pm on 29 January, 2023): Thanks, Jon! Appreciate your support!",
            "Gina (1:26 pm on 3 April, 2023): Thanks, Jon! Appreciate the kind words. <3",
            False,
        ),
    ],
)
def test_is_version(a: str, b: str, expected: bool) -> None:
    assert is_version(a, b) is expected and is_version(b, a) is expected


def _unit(*rows: list[float]) -> np.ndarray:
    m = np.array(rows, dtype=np.float32)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


def test_newer_first_moves_a_correction_above_what_it_corrects() -> None:
    items = [
        Version("n", "The meeting is at 3pm.", "2024-01-01T00:00:00"),
        Version("n", "Lunch is at noon.", "2024-01-02T00:00:00"),
        Version("n", "The meeting is at 4pm.", "2024-01-03T00:00:00"),
        Version("n", "The meeting is at 5pm.", "2024-01-04T00:00:00"),
    ]
    vectors = _unit([1, 0, 0], [0, 1, 0], [1, 0.1, 0], [1, 0, 0.1])
    order, superseded = newer_first(items, vectors)
    # The group of versions takes the place of its best-ranked member, newest first.
    assert order == [3, 2, 0, 1]
    assert superseded == {0: 3, 2: 3}


def test_newer_first_leaves_other_pairs_alone() -> None:
    vectors = _unit([1, 0], [1, 0.05], [0.99, 0.05])
    same = [
        Version("n", "Priya is allergic to peanuts.", "2024-01-01"),
        Version("n", "Priya is allergic to peanuts!", "2024-01-02"),  # no difference in meaning
        Version("other", "Priya is not allergic to peanuts.", "2024-01-03"),  # other namespace
    ]
    assert newer_first(same, vectors) == ([0, 1, 2], {})
    far = [Version("n", "The meeting is at 3pm.", "1"), Version("n", "at 4pm", "2")]
    assert newer_first(far, _unit([1, 0], [0, 1])) == ([0, 1], {})  # not similar


# -- the store, with MiniLM -----------------------------------------------------------------------


def _settings(policy: str = "skip", threshold: float = 0.95) -> MemorySettings:
    return MemorySettings(
        near_duplicate_policy=policy,  # type: ignore[arg-type]
        near_duplicate_threshold=threshold,
        synchronous="NORMAL",
    )


@pytest.mark.slow
@pytest.mark.parametrize("policy", ["skip", "update"])
@pytest.mark.parametrize(("older", "newer"), [(ALLERGIC, NOT_ALLERGIC), (NOT_ALLERGIC, ALLERGIC)])
async def test_a_negated_correction_is_kept_and_found_first(
    tmp_path: Path, policy: str, older: str, newer: str
) -> None:
    async with MemoryStore.open(
        tmp_path / "m.db", settings=_settings(policy), compressor=FakeCompressor()
    ) as store:
        first = await store.store(older)
        second = await store.store(newer)
        assert (first.status, second.status) == ("created", "created")
        assert second.id != first.id and second.content == newer
        assert {m.content for m in (await store.list()).items} == {older, newer}
        hits = await store.search("Is Priya allergic to peanuts?")
        assert [h.id for h in hits] == [second.id, first.id]
        assert hits[0].superseded_by is None and hits[1].superseded_by == second.id
        top = await store.search("Is Priya allergic to peanuts?", k=1)
        assert [h.content for h in top] == [newer]
        for mode in ("dense", "bm25"):
            ranked = await store.search("Is Priya allergic to peanuts?", mode=mode)  # type: ignore[arg-type]
            assert ranked[0].id == second.id


@pytest.mark.slow
async def test_a_contracted_negation_is_kept(tmp_path: Path) -> None:
    async with MemoryStore.open(
        tmp_path / "m.db", settings=_settings(), compressor=FakeCompressor()
    ) as store:
        first = await store.store(ALLERGIC)
        second = await store.store("Priya isn't allergic to peanuts.")
        assert second.status == "created" and second.id != first.id


@pytest.mark.slow
async def test_a_numeric_correction_is_kept_and_found_first(tmp_path: Path) -> None:
    # MiniLM puts "3pm" and "4pm" at cosine 0.91: lower the threshold so similarity alone
    # would call them duplicates, and the fact check is what keeps both.
    async with MemoryStore.open(
        tmp_path / "m.db", settings=_settings("update", 0.85), compressor=FakeCompressor()
    ) as store:
        old = await store.store("The meeting is at 3pm.", tags=["calendar"])
        new = await store.store("The meeting is at 4pm.")
        assert new.status == "created" and new.id != old.id
        assert (await store.get(old.id)).content == "The meeting is at 3pm."
        hits = await store.search("When is the meeting?", k=2)
        assert [h.content for h in hits] == ["The meeting is at 4pm.", "The meeting is at 3pm."]
        assert hits[1].superseded_by == new.id


@pytest.mark.slow
async def test_a_modal_difference_is_kept_and_found_first(tmp_path: Path) -> None:
    async with MemoryStore.open(
        tmp_path / "m.db", settings=_settings(), compressor=FakeCompressor()
    ) as store:
        may = await store.store("Dana may attend the offsite.")
        will = await store.store("Dana will attend the offsite.")
        assert will.status == "created" and will.id != may.id
        hits = await store.search("Will Dana attend the offsite?")
        assert [h.id for h in hits] == [will.id, may.id]


@pytest.mark.slow
@pytest.mark.parametrize("policy", ["skip", "update"])
async def test_a_real_near_duplicate_is_still_deduplicated(tmp_path: Path, policy: str) -> None:
    async with MemoryStore.open(
        tmp_path / "m.db", settings=_settings(policy), compressor=FakeCompressor()
    ) as store:
        first = await store.store(ALLERGIC, tags=["health"])
        # Whitespace and punctuation only (MiniLM cosine 0.99): the same statement.
        again = await store.store("Priya is  allergic to peanuts!", tags=["food"])
        # A correction stored in the same batch as a near-duplicate of it.
        batch = await store.store_many([NOT_ALLERGIC, "Priya is not allergic to peanuts!"])
        count = (await store.stats()).memories
    assert again.id == first.id and again.tags == ["health", "food"]
    assert batch[0].status == "created" and batch[1].id == batch[0].id
    if policy == "skip":
        assert again.status == "near_duplicate_skipped" and again.content == ALLERGIC
        assert batch[1].status == "near_duplicate_skipped"
    else:
        assert again.status == "near_duplicate_updated"
        assert again.content == "Priya is  allergic to peanuts!"
    assert count == 2


# -- exact duplicates never drop what they bring (fake embedder) ----------------------------------

TEXT = "The staging cluster is rebuilt every Sunday night."


async def test_duplicate_with_new_tags_merges_them(store: MemoryStore) -> None:
    first = await store.store(TEXT, tags=["ops"], metadata={"source": "chat"})
    again = await store.store(TEXT, tags=["ops", "weekly"], metadata={"owner": "sam"})
    assert again.status == "existing" and again.id == first.id
    assert again.tags == ["ops", "weekly"]
    assert again.metadata == {"source": "chat", "owner": "sam"}
    assert again.notes == ["tags added: weekly", "metadata keys set: owner"]
    assert again.updated_at > first.updated_at and again.created_at == first.created_at
    got = await store.get(first.id)
    assert got.tags == ["ops", "weekly"] and got.metadata == again.metadata
    assert [h.id for h in await store.search("staging cluster", tags=["weekly"])] == [first.id]
    assert [h.id for h in await store.search("weekly", mode="bm25")] == [first.id]  # FTS tags
    assert (await store.stats()).memories == 1


async def test_duplicate_without_new_labels_changes_nothing(store: MemoryStore) -> None:
    first = await store.store(TEXT, tags=["ops", "weekly"], metadata={"a": 1})
    again = await store.store(TEXT, tags=["weekly"], metadata={"a": 1})
    assert again.status == "existing" and again.notes == []
    assert again.tags == ["ops", "weekly"] and again.updated_at == first.updated_at


async def test_duplicates_in_one_batch_merge_their_tags(store: MemoryStore) -> None:
    out = await store.store_many(
        [{"content": TEXT, "tags": ["a"]}, {"content": TEXT, "tags": ["b"], "metadata": {"k": 1}}]
    )
    assert [m.status for m in out] == ["created", "existing"]
    assert out[0].id == out[1].id and out[1].notes == ["tags added: b", "metadata keys set: k"]
    got = await store.get(out[0].id)
    assert got.tags == ["a", "b"] and got.metadata == {"k": 1}


async def test_existing_notes_are_not_exported(store: MemoryStore) -> None:
    await store.store(TEXT, tags=["a"])
    await store.store(TEXT, tags=["b"])
    records = [r async for r in store.export()]
    assert len(records) == 1 and "notes" not in records[0] and records[0]["tags"] == ["a", "b"]
