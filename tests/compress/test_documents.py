"""One budget across documents: allocation by relevance, boundaries kept, drops explained."""

from __future__ import annotations

import pytest

from compression_layer.compress.documents import allocate, compress_documents
from compression_layer.compress.extractive.engine import ExtractiveEngine
from compression_layer.errors import InputError
from compression_layer.tokens import count_tokens

DOCS = [
    "The museum opened in 1921 and keeps a collection of old clocks, maps and letters from the "
    "harbour's merchants. Visitors can climb the tower on weekends during the summer season.",
    "The bridge over the river was designed by the engineer Anna Kowal, who won the city's "
    "competition in 1929 with a steel arch that was thought too daring by the council at first. "
    "Building it took three years, and trams crossed it from 1933 until the war.",
    "Local bakers sell a sweet bread with poppy seeds at the winter market, and a cooking school "
    "teaches the recipe to children every December in the old granary by the square.",
]


@pytest.fixture(scope="module")
def engine() -> ExtractiveEngine:
    return ExtractiveEngine.load()


def test_allocate_is_proportional_capped_and_within_budget() -> None:
    alloc = allocate([100, 100, 10], [3.0, 1.0, 50.0], 120)
    assert alloc[2] == 10  # capped at its length; the rest is shared 3:1
    assert alloc[0] > alloc[1] > 0
    assert sum(alloc) <= 120


def test_allocate_drops_shares_below_the_minimum_weakest_first() -> None:
    alloc = allocate([200, 200, 200], [10.0, 1.0, 0.5], 100, [20, 20, 20])
    assert alloc[2] == 0 and alloc[0] > 0
    assert sum(alloc) <= 100


def test_the_relevant_document_gets_most_of_the_budget(engine: ExtractiveEngine) -> None:
    out = compress_documents(
        DOCS, query="Who designed the bridge over the river?", target_tokens=70, engine=engine
    )
    assert [d.index for d in out.documents] == [0, 1, 2]  # input order, one per input
    bridge = out.documents[1]
    assert bridge.rank == 0
    assert bridge.budget == max(d.budget for d in out.documents)
    assert "Kowal" in bridge.text
    assert out.tokens_compressed <= 70 * 1.1
    assert out.tokens_original == sum(count_tokens(d) for d in DOCS)


def test_without_query_the_budget_follows_length(engine: ExtractiveEngine) -> None:
    out = compress_documents(DOCS, target_tokens=90, engine=engine)
    budgets = [d.budget for d in out.documents]
    assert budgets[1] >= budgets[0] and budgets[1] >= budgets[2]  # the longest document
    assert all(not d.dropped for d in out.documents)
    assert out.joined().count("\n\n") == 2


def test_a_budget_above_the_total_returns_the_documents_whole(engine: ExtractiveEngine) -> None:
    out = compress_documents(DOCS, query="bread", target_tokens=10_000, engine=engine)
    assert [d.text for d in out.documents] == DOCS


def test_a_tiny_budget_drops_the_least_relevant_with_a_note(engine: ExtractiveEngine) -> None:
    out = compress_documents(DOCS, query="poppy seed bread recipe", target_tokens=30, engine=engine)
    kept = [d for d in out.documents if not d.dropped]
    assert kept and kept[0].index == 2
    assert any("dropped" in n for n in out.notes)
    assert all(d.text == "" for d in out.documents if d.dropped)


def test_bad_budget_and_empty_input() -> None:
    with pytest.raises(InputError, match="target_tokens"):
        compress_documents(DOCS, target_tokens=0)
    assert compress_documents([], target_tokens=10).documents == []


def test_library_exposes_it_lazily() -> None:
    import compression_layer

    assert compression_layer.compress_documents is compress_documents
