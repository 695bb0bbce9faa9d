"""Query mode: relevance from the engine's own encoder pass, graded boosts, counted words."""

from __future__ import annotations

import numpy as np
import pytest

from compression_layer.compress.extractive.engine import ExtractiveEngine, counted_units
from compression_layer.compress.extractive.query import (
    EncodedQuery,
    QueryWeights,
    confidence,
    encoded_query,
    paragraph_ids,
    query_boost,
    sentence_relevance,
)
from compression_layer.compress.extractive.text import split_units

TEXT = (
    "The bridge crosses the river at its narrowest point. It was designed by Anna Kowal in 1931. "
    "Trams stopped running over it after the war.\n\n"
    "The town hall holds a small museum. Its clock tower was rebuilt twice."
)


@pytest.fixture(scope="module")
def engine() -> ExtractiveEngine:
    return ExtractiveEngine.load()


def _one_hot(units: list, words: set[str]) -> np.ndarray:
    vecs = np.zeros((len(units), 8), dtype=np.float32)
    for i, unit in enumerate(units):
        vecs[i, hash(unit.text.lower()) % 8 if unit.text.lower() in words else 0] = 1.0
    return vecs


def test_paragraph_ids_break_at_blank_lines() -> None:
    units = split_units("One two.\nThree.\n\nFour five.")
    ids = paragraph_ids(units)
    assert ids[0] == 0 and ids[-1] == 1
    assert ids[[u.text for u in units].index("Three")] == 0


def test_encoded_query_keeps_content_words() -> None:
    units = split_units("Who designed the bridge?")
    vectors = np.ones((len(units), 4), dtype=np.float32)
    q = encoded_query("Who designed the bridge?", units, vectors)
    assert q.words == frozenset({"designed", "bridge"})
    assert q.vectors.shape == (2, 4)
    assert np.allclose(np.linalg.norm(q.vectors, axis=1), 1.0)


def test_lexical_relevance_ranks_the_sentence_holding_rare_query_words_first() -> None:
    units = split_units(TEXT)
    vectors = np.zeros((len(units), 8), dtype=np.float32)  # no soft signal: words only
    q = EncodedQuery("who designed it", frozenset({"designed"}), np.zeros((0, 8), np.float32))
    sids, relevance = sentence_relevance(units, vectors, q, QueryWeights(lead_weight=0.0))
    assert int(np.argmax(relevance)) == 1
    assert len(relevance) == max(sids) + 1 == 5


def test_paragraph_weight_lifts_the_sentences_of_the_relevant_paragraph() -> None:
    units = split_units(TEXT)
    vectors = np.zeros((len(units), 8), dtype=np.float32)
    q = EncodedQuery("designed", frozenset({"designed"}), np.zeros((0, 8), np.float32))
    flat = QueryWeights(paragraph_weight=0.0, lead_weight=0.0)
    _, without = sentence_relevance(units, vectors, q, flat)
    _, with_par = sentence_relevance(units, vectors, q, QueryWeights(lead_weight=0.0))
    # Sentence 2 (same paragraph as the hit) gains over sentence 3 (the other paragraph).
    assert without[2] == without[3]
    assert with_par[2] > with_par[3]


def test_boost_is_graded_and_zero_without_query_words() -> None:
    units = split_units(TEXT)
    vectors = np.zeros((len(units), 8), dtype=np.float32)
    q = EncodedQuery("designed", frozenset({"designed"}), np.zeros((0, 8), np.float32))
    boost = query_boost(units, vectors, q, QueryWeights())
    i_design = [u.text for u in units].index("designed")
    i_clock = [u.text for u in units].index("clock")
    assert boost[i_design] > boost[i_clock]
    empty = EncodedQuery("", frozenset(), np.zeros((0, 8), np.float32))
    assert not query_boost(units, vectors, empty, QueryWeights()).any()


def test_lead_decay_grades_position_inside_each_paragraph() -> None:
    units = split_units(TEXT)
    vectors = np.zeros((len(units), 8), dtype=np.float32)
    q = EncodedQuery("zebra", frozenset({"zebra"}), np.zeros((0, 8), np.float32))
    flat = QueryWeights(paragraph_weight=0.0, lead_weight=1.0, lead_decay=0.5, idf_weight=0.0)
    _, relevance = sentence_relevance(units, vectors, q, flat)
    # Paragraph 1: sentences 0, 1, 2; paragraph 2: sentences 3, 4.
    assert list(relevance) == [1.0, 0.5, 0.25, 1.0, 0.5]
    only_first = QueryWeights(paragraph_weight=0.0, lead_weight=1.0, idf_weight=0.0)
    _, relevance = sentence_relevance(units, vectors, q, only_first)
    assert list(relevance) == [1.0, 0.0, 0.0, 1.0, 0.0]


def test_confidence_scales_boosts_by_the_lead_of_the_best_sentence() -> None:
    sure = QueryWeights(confidence_margin=0.5)
    assert confidence(np.array([3.0, 1.0, 0.0]), sure) == 1.0
    assert confidence(np.array([1.0, 1.0, 0.0]), sure) == 0.0
    assert 0.0 < confidence(np.array([1.2, 1.0, 0.0]), sure) < 1.0
    assert confidence(np.array([1.0, 1.0, 1.0]), sure) == 0.0
    assert confidence(np.array([1.0, 1.0, 1.0]), QueryWeights()) == 1.0  # off by default


def test_negative_scale_softens_only_the_demoted_sentences() -> None:
    units = split_units(TEXT)
    vectors = np.zeros((len(units), 8), dtype=np.float32)
    q = EncodedQuery("designed", frozenset({"designed"}), np.zeros((0, 8), np.float32))
    full = query_boost(units, vectors, q, QueryWeights())
    soft = query_boost(units, vectors, q, QueryWeights(negative_scale=0.5))
    assert np.allclose(soft[full >= 0], full[full >= 0])
    assert np.allclose(soft[full < 0], 0.5 * full[full < 0])


def test_counted_words_are_forced() -> None:
    units = split_units("They stayed 380 years and raised two new regiments; 2 million came.")
    kept = {units[i].text for i in counted_units(units)}
    assert {"years", "two", "new", "million"} <= kept
    assert "regiments" not in kept  # only the word right after the count


class CountingAdapter:
    """The real adapter, counting encoder passes (a fake around it, not a mock)."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.passes: list[int] = []

    def unit_vectors(self, docs):  # type: ignore[no-untyped-def]
        self.passes.append(len(docs))
        return self.inner.unit_vectors(docs)  # type: ignore[attr-defined]

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


def test_query_rides_in_the_texts_encoder_batch() -> None:
    base = ExtractiveEngine.load()
    counting = CountingAdapter(base.adapter)
    engine = ExtractiveEngine(counting)  # type: ignore[arg-type]
    outs = engine.compress_batch([TEXT, TEXT.upper()], rate=0.4, query="Who designed the bridge?")
    assert counting.passes == [3]  # two texts and the query, one encoder pass
    assert "designed" in outs[0].text.split() or "Kowal" in outs[0].text


def test_query_on_a_text_prepared_without_vectors_matches(engine: ExtractiveEngine) -> None:
    query = "Who designed the bridge?"
    plain = engine.prepare([TEXT])[0]
    kept = engine.prepare([TEXT], keep_vectors=True)[0]
    assert plain.vectors is None and kept.vectors is not None
    [encoded] = engine.encode_queries([query])
    a = engine.finish(plain, rate=0.4, query=query).text
    b = engine.finish(kept, rate=0.4, query=query, encoded=encoded).text
    assert a == b


def test_query_keeps_the_answer_sentence_that_no_query_loses(engine: ExtractiveEngine) -> None:
    plain = engine.compress(TEXT, rate=0.45).text
    asked = engine.compress(TEXT, rate=0.45, query="When did the trams stop running?").text
    assert "war" in asked.split() or "war." in asked
    assert len(asked) > 0 and len(plain) > 0
