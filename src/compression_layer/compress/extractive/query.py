"""Query relevance from the encoder pass the engine already makes (no second model).

The question is split into units and encoded in the same batch as the context, on the same int8
encoder; relevance then needs only arithmetic on vectors already computed:

- lexical: the query's content words found in each sentence, weighted by how few sentences hold
  them (a word in every sentence tells nothing about where the answer is);
- soft: for each query content word, its best cosine against the sentence's words (contextual
  vectors of the first encoder layers: spelling variants and close words still match);
- coarse-to-fine: a paragraph is as relevant as its best sentence, and sentences inherit part of
  their paragraph's relevance, so a multi-paragraph context (RAG chunks, a long article) spends
  its budget on the right paragraph first, then on the right sentences inside it.

The boost is graded by rank rather than all-or-nothing: every sentence keeps its generic scores
and the most relevant ones are raised, so a wrong ranking costs a few words of the answer
sentence, never the whole of it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from compression_layer.compress.extractive.text import (
    Unit,
    is_stopword,
    normalise,
    sentence_ids,
    split_units,
)

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class QueryWeights:
    """How relevance is computed and turned into logit boosts (see ``QueryConfig``).

    ``lead_weight`` is a position prior for a paragraph's first sentence (``lead_decay`` ** k
    of it for its k-th sentence; 0 = the first only): with it and the softer ``rank_boost`` /
    ``relevance_boost`` the query no longer costs NQ answers that sit in the lead while the
    ranking points elsewhere. ``confidence_margin`` (0 = off) scales all boosts by how clearly
    the best sentence leads the runner-up; ``negative_scale`` softens demotions. Both were tried
    on the tuning split and left off (no gain there).
    """

    idf_weight: float = 1.0
    similarity_weight: float = 2.0
    paragraph_weight: float = 1.0
    lead_weight: float = 0.8
    rank_boost: float = 1.5
    relevance_boost: float = 2.0
    word_boost: float = 0.0
    confidence_margin: float = 0.0
    negative_scale: float = 1.0
    lead_decay: float = 0.0


@dataclass(frozen=True)
class EncodedQuery:
    """The query's content words (normalised) and their unit-length encoder vectors."""

    text: str
    words: frozenset[str]
    vectors: npt.NDArray[np.float32]


def query_units(query: str) -> list[Unit]:
    """Units of the query, as the encoder sees them."""
    return split_units(query)


def content_positions(units: list[Unit]) -> list[int]:
    """Indices of content words (words that are not stopwords)."""
    return [i for i, u in enumerate(units) if u.is_word and not is_stopword(u.text)]


def encoded_query(query: str, units: list[Unit], vectors: npt.NDArray[np.float32]) -> EncodedQuery:
    """Keep the content words of an encoded query (all its words if it has no content word)."""
    picks = content_positions(units) or [i for i, u in enumerate(units) if u.is_word]
    vecs = unit_rows(vectors[picks]) if picks else np.zeros((0, vectors.shape[1]), np.float32)
    return EncodedQuery(query, frozenset(normalise(units[i].text) for i in picks), vecs)


def unit_rows(vectors: npt.NDArray[np.floating]) -> npt.NDArray[np.float32]:
    """Rows scaled to unit length (zero rows stay zero)."""
    v = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    return np.asarray(v / np.maximum(norms, 1e-6), dtype=np.float32)


def paragraph_ids(units: list[Unit]) -> list[int]:
    """Paragraph index of each unit: a paragraph ends at a blank line."""
    ids: list[int] = []
    current = 0
    for i, unit in enumerate(units):
        if i and unit.gap.count("\n") >= 2:
            current += 1
        ids.append(current)
    return ids


def sentence_relevance(
    units: list[Unit],
    vectors: npt.NDArray[np.floating],
    query: EncodedQuery,
    weights: QueryWeights,
) -> tuple[list[int], FloatArray]:
    """Sentence id of each unit and the relevance of each sentence to the query."""
    sids = sentence_ids(units)
    n_sent = sids[-1] + 1 if sids else 0
    if not n_sent or not query.words:
        return sids, np.zeros(n_sent)
    sid_arr = np.asarray(sids)
    words = [normalise(u.text) if u.is_word else "" for u in units]
    members: list[set[str]] = [set() for _ in range(n_sent)]
    for word, sid in zip(words, sids, strict=True):
        if word:
            members[sid].add(word)
    lexical = np.zeros(n_sent)
    for word in query.words:
        holders = [s for s in range(n_sent) if word in members[s]]
        if holders:
            lexical[holders] += math.log(1.0 + n_sent / len(holders))
    if lexical.max() > 0:
        lexical /= lexical.max()
    soft = np.zeros(n_sent)
    word_rows = np.array([u.is_word for u in units])
    if len(query.vectors) and word_rows.any():
        sims = query.vectors @ unit_rows(vectors).T  # (query words, units)
        sims[:, ~word_rows] = -1.0
        for s in range(n_sent):
            cols = sid_arr == s
            if (cols & word_rows).any():
                soft[s] = float(sims[:, cols].max(axis=1).mean())
    relevance = weights.idf_weight * lexical + weights.similarity_weight * soft
    pids = np.asarray(paragraph_ids(units))
    first_unit = np.searchsorted(sid_arr, np.arange(n_sent))
    sent_pid = pids[first_unit]
    if weights.lead_weight:
        # A paragraph's first sentence names its subject (encyclopedia leads, RAG chunks).
        # Later sentences keep lead_decay ** (their index in the paragraph) of it.
        starts = np.ones(n_sent, dtype=bool)
        starts[1:] = sent_pid[1:] != sent_pid[:-1]
        index = np.arange(n_sent) - np.maximum.accumulate(np.where(starts, np.arange(n_sent), 0))
        relevance = relevance + weights.lead_weight * weights.lead_decay**index
    if weights.paragraph_weight and sent_pid.max() > 0:
        best = np.full(sent_pid.max() + 1, -np.inf)
        np.maximum.at(best, sent_pid, relevance)
        relevance = relevance + weights.paragraph_weight * best[sent_pid]
    return sids, relevance


def confidence(relevance: FloatArray, weights: QueryWeights) -> float:
    """How far to trust the ranking: 1 when the best sentence stands clear of the runner-up."""
    if not weights.confidence_margin or len(relevance) < 2:
        return 1.0
    top = np.sort(relevance)[::-1]
    spread = float(top[0] - top[-1])
    if spread <= 0:
        return 0.0
    return float(min(1.0, (top[0] - top[1]) / spread / weights.confidence_margin))


def query_boost(
    units: list[Unit],
    vectors: npt.NDArray[np.floating],
    query: EncodedQuery,
    weights: QueryWeights,
) -> FloatArray:
    """Logit boost of every unit: graded by its sentence's relevance rank and score."""
    if not units:
        return np.zeros(0)
    sids, relevance = sentence_relevance(units, vectors, query, weights)
    n_sent = len(relevance)
    if n_sent == 0 or not relevance.any():
        return np.zeros(len(units))
    rank = np.empty(n_sent)
    rank[np.argsort(-relevance, kind="stable")] = np.arange(n_sent)
    grade = 1.0 - rank / max(1, n_sent - 1)
    per_sentence = weights.rank_boost * grade + weights.relevance_boost * (
        relevance - relevance.mean()
    )
    per_sentence = np.where(per_sentence < 0, weights.negative_scale * per_sentence, per_sentence)
    per_sentence *= confidence(relevance, weights)
    boost = per_sentence[np.asarray(sids)]
    if weights.word_boost:
        hits = np.array([u.is_word and normalise(u.text) in query.words for u in units])
        boost = boost + weights.word_boost * hits
    return np.asarray(boost, dtype=np.float64)
