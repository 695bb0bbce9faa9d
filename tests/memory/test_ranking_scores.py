"""Calibrated scores, recency tie-breaks and decay: the pure functions of ``memory.ranking``."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import numpy as np
import pytest

from compression_layer.memory.ranking import (
    CALIBRATIONS,
    Calibration,
    Version,
    age_days,
    by_score_newest_first,
    contradicts,
    coverage,
    decay,
    fused_relevance,
    newer_first,
    tied_ranks,
)


@pytest.mark.parametrize("mode", sorted(CALIBRATIONS))
def test_scores_are_probabilities_and_follow_the_fused_rank(mode: str) -> None:
    cal = CALIBRATIONS[mode]
    gate = cal.answerable(0.62, 1.0)
    fused = [1.0, 0.8, 0.5, 0.3, 0.1, 0.01]
    scores = [cal.relevance(gate, f) for f in fused]
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert all(a > b for a, b in itertools.pairwise(scores))
    assert cal.relevance(gate, 0.0) == 0.0


def test_gate_separates_a_matching_query_from_nonsense() -> None:
    cal = CALIBRATIONS["hybrid"]
    # Typical of LoCoMo (bench/results/memory_calibration.json): a real question's best cosine
    # is 0.52-0.75 and its best BM25 hits hold most of its words; random letters reach a cosine
    # of 0.2 and match no word.
    assert cal.answerable(0.64, 1.0) > 0.9
    assert cal.answerable(0.2, None) < 1e-3
    assert cal.answerable(0.2, 0.0) == cal.answerable(0.2, None)
    assert cal.answerable(0.9, 0.5) > cal.answerable(0.5, 0.5) > cal.answerable(0.5, 0.2)


def test_coverage_is_the_best_share_of_query_words_one_text_holds() -> None:
    query = "When did Melanie paint the sunrise?"  # search words: melanie, paint, sunrise
    assert coverage(query, ["Melanie painted a sunrise."]) == 1.0  # "painted": same 5 letters
    assert coverage(query, ["Melanie ran a race.", "A sunrise painting"]) == pytest.approx(2 / 3)
    assert coverage(query, []) == 0.0
    assert coverage("the and of", ["the end"]) == pytest.approx(1 / 3)  # stopwords only: all
    assert coverage("", ["anything"]) == 0.0


def test_extreme_inputs_stay_finite() -> None:
    cal = Calibration(-18.0, 16.0, 5.0, -6.0, 6.0)
    assert cal.answerable(-1.0, None) >= 0.0
    assert cal.answerable(1.0, 1e300) <= 1.0
    assert 0.0 <= cal.relevance(1.0, 1.0) <= 1.0


def test_fused_relevance_is_one_for_first_everywhere_and_keeps_rrf_order() -> None:
    dense = [(1, 0.9), (2, 0.8), (3, 0.7)]
    lexical = [(1, 9.0), (3, 8.0), (4, 7.0)]
    fused = fused_relevance([dense, lexical], [1.0, 1.0], 5)
    assert fused[0] == (1, 1.0)
    assert [pk for pk, _ in fused] == [1, 3, 2, 4]
    assert all(0.0 < s <= 1.0 for _, s in fused)
    # One list: first place is 1, whatever its weight.
    assert fused_relevance([[(7, 0.5), (8, 0.4)]], [0.3], 5)[0] == (7, 1.0)
    assert fused_relevance([[(7, 0.5)]], [0.0], 5) == [(7, 0.0)]


def test_equal_list_scores_share_a_rank_and_so_a_fused_score() -> None:
    assert tied_ranks([0.9, 0.8, 0.8, 0.7, 0.7]) == [1, 2, 2, 4, 4]
    assert tied_ranks([0.5, 0.5 - 1e-9, 0.4]) == [1, 1, 3]
    fused = dict(fused_relevance([[(1, 0.8), (2, 0.8)], [(2, 3.0), (1, 3.0)]], [1.0, 1.0], 5))
    assert fused[1] == fused[2] == 1.0


def test_decay_halves_per_half_life_and_is_off_by_default() -> None:
    assert decay(0.8, 30.0, None) == 0.8
    assert decay(0.8, 30.0, 30.0) == pytest.approx(0.4)
    assert decay(0.8, 60.0, 30.0) == pytest.approx(0.2)
    assert decay(0.8, -1.0, 30.0) == 0.8  # a clock skew never boosts


def test_age_days_reads_aware_and_naive_times() -> None:
    now = datetime(2025, 3, 11, tzinfo=UTC)
    assert age_days("2025-03-01T00:00:00+00:00", now) == pytest.approx(10.0)
    assert age_days("2025-03-10T12:00:00", now) == pytest.approx(0.5)


def test_equal_scores_rank_the_newer_first_and_scores_still_lead() -> None:
    scores = [0.5, 0.5, 0.9, 0.5]
    times = ["2025-01-01", "2025-03-01", "2024-01-01", "2025-03-01"]
    # 2 leads on score; among the 0.5s the March ones (1 then 3: equal times keep their order).
    assert by_score_newest_first(scores, times) == [2, 1, 3, 0]


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("Alice lives in Paris.", "Alice moved to Berlin."),
        ("Bob works at Google.", "Bob now works at Microsoft."),
        ("Dana is vegetarian.", "Dana is not vegetarian any more."),
    ],
)
def test_short_statements_about_one_subject_with_other_facts_contradict(old: str, new: str) -> None:
    assert contradicts(old, new) and contradicts(new, old)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Alice lives in Paris.", "Bob lives in Paris."),  # another subject
        ("Alice lives in Paris.", "Alice lives in Paris, France."),  # adds, replaces nothing
        ("the meeting went well", "the meeting went badly"),  # no subject named
        (
            "Caroline (8 May 2023): I went to the support group in Boston.",
            "Caroline (9 June 2023): I went to a pride parade in Denver.",
        ),  # a speaker label, not a subject: chat turns of one speaker
        ("Alice met Bob on 3 May.", "Alice met Bob on 9 June."),  # only the dates differ
        (
            "Caroline (8 May 2023): I went to the LGBTQ support group yesterday and it was so "
            "powerful, everyone shared their stories and I felt accepted for who I am.",
            "Caroline (9 June 2023): I went to a pride parade last week with friends from the "
            "support group and it reminded me how far we have come together as a community.",
        ),  # chat turns hold many statements
    ],
)
def test_other_pairs_do_not_contradict(a: str, b: str) -> None:
    assert not contradicts(a, b)


def test_newer_first_puts_a_contradicting_newer_statement_first() -> None:
    items = [
        Version("ns", "Alice lives in Paris.", "2025-01-01"),
        Version("ns", "Bob adopted a cat.", "2025-01-02"),
        Version("ns", "Alice moved to Berlin.", "2025-02-01"),
    ]
    # Paris/Berlin at 0.69 (MiniLM's cosine for this pair), the cat far from both.
    sims = np.array([[1.0, 0.1, 0.69], [0.1, 1.0, 0.1], [0.69, 0.1, 1.0]])
    vectors = np.linalg.cholesky(sims).astype(np.float32)  # rows whose dot products are sims
    order, superseded = newer_first(items, vectors)
    assert order == [2, 0, 1]
    assert superseded == {0: 2}
    # In another scope (the caller folds it into the namespace key) nothing moves.
    items[2] = Version("ns\x1fbob", items[2].content, items[2].created_at)
    assert newer_first(items, vectors) == ([0, 1, 2], {})


def test_a_listed_item_lends_a_share_of_its_fused_score_to_its_follower() -> None:
    dense = [(1, 0.9), (5, 0.5), (6, 0.4)]
    lexical = [(1, 7.0), (5, 3.0)]
    alone = dict(fused_relevance([dense, lexical], [1.0, 1.0], 5))
    lent = dict(fused_relevance([dense, lexical], [1.0, 1.0], 5, {1: 2, 5: 6}, [0.0, 0.5]))
    assert alone[1] == lent[1] == 1.0 and lent[5] == alone[5]
    # 2 is in no list: half of the lender's BM25 share (1 / 6 of 2 / 6 in all).
    assert 2 not in alone and lent[2] == pytest.approx(0.25)
    # 6 is listed itself and gains half of 5's BM25 share, but stays under 5.
    assert alone[6] < lent[6] < lent[5]
    assert dict(fused_relevance([dense, lexical], [1.0, 1.0], 5, {1: 2}, [0.0, 0.0])) == alone


def test_a_follower_never_outranks_the_match_that_lifted_it() -> None:
    # A two-memory store: both are in both lists, the second right after the first.
    fused = fused_relevance(
        [[(1, 0.9), (2, 0.8)], [(1, 5.0), (2, 4.0)]], [1.0, 1.0], 5, {1: 2}, [0.0, 5.0]
    )
    assert [pk for pk, _ in fused] == [1, 2]
    assert fused[1][1] < fused[0][1]
