"""Search building blocks: the in-memory dense index, FTS5 query text, rank fusion and packing.

Dense search is exact: one float32 matrix per namespace, multiplied by the query vector with
numpy (BLAS). At 100k x 384 that is ~150 MB read per query, a few milliseconds; no approximate
index is needed at the sizes an agent memory reaches, and exact search has no recall loss.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

FloatMatrix = npt.NDArray[np.float32]

# Words that carry no retrieval signal in questions; dropping them keeps the OR-query of BM25
# from matching nearly every row on "the", "did", "what". Kept short and generic on purpose.
_STOPWORDS_TEXT = """
    a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further
    had has have having he her here hers herself him himself his how i if in into is it its itself
    just me more most my myself no nor not now of off on once only or other our ours ourselves out
    over own same she should so some such than that the their theirs them themselves then there
    these they this those through to too under until up very was we were what when where which
    while who whom why will with would you your yours yourself yourselves s t don ll ve re d m"""
STOPWORDS = frozenset(_STOPWORDS_TEXT.split())

_WORD = re.compile(r"\w+", re.UNICODE)


def fts_query(text: str) -> str | None:
    """An FTS5 MATCH expression: the query's content words, each quoted, joined with OR.

    Quoting every term makes user text inert (no FTS syntax, no column filters); OR instead of the
    default AND lets BM25 rank partial matches, which is what a question against memories needs.
    Returns None when the text has no word at all.
    """
    words = [w.lower() for w in _WORD.findall(text)]
    content = [w for w in words if w not in STOPWORDS]
    chosen = content or words
    unique = list(dict.fromkeys(w.replace('"', "") for w in chosen))
    if not unique:
        return None
    return " OR ".join(f'"{w}"' for w in unique)


@dataclass
class VectorIndex:
    """The vectors of one namespace, rows aligned with ``pks``; grows by doubling on append."""

    dim: int
    _pks: npt.NDArray[np.int64] = field(init=False)
    _vecs: FloatMatrix = field(init=False)
    size: int = 0

    def __post_init__(self) -> None:
        self._pks = np.zeros(0, dtype=np.int64)
        self._vecs = np.zeros((0, self.dim), dtype=np.float32)

    @classmethod
    def from_rows(cls, dim: int, pks: Sequence[int], vectors: FloatMatrix) -> VectorIndex:
        index = cls(dim)
        index._pks = np.asarray(pks, dtype=np.int64)
        # A copy: vectors read from SQLite are read-only buffers, and upsert writes in place.
        index._vecs = np.array(vectors, dtype=np.float32, copy=True).reshape(len(pks), dim)
        index.size = len(pks)
        return index

    @property
    def pks(self) -> npt.NDArray[np.int64]:
        return self._pks[: self.size]

    @property
    def vectors(self) -> FloatMatrix:
        return self._vecs[: self.size]

    def append(self, pks: Sequence[int], vectors: FloatMatrix) -> None:
        """Add rows; amortised O(rows) thanks to capacity doubling."""
        n = len(pks)
        if n == 0:
            return
        need = self.size + n
        if need > len(self._pks):
            cap = max(need, 2 * len(self._pks), 64)
            pk_buf = np.zeros(cap, dtype=np.int64)
            vec_buf = np.zeros((cap, self.dim), dtype=np.float32)
            pk_buf[: self.size] = self.pks
            vec_buf[: self.size] = self.vectors
            self._pks, self._vecs = pk_buf, vec_buf
        self._pks[self.size : need] = np.asarray(pks, dtype=np.int64)
        self._vecs[self.size : need] = vectors
        self.size = need

    def upsert(self, pk: int, vector: FloatMatrix) -> None:
        """Replace the vector of ``pk`` if present, else append it."""
        where = np.flatnonzero(self.pks == pk)
        if len(where):
            self._vecs[int(where[0])] = vector
        else:
            self.append([pk], vector.reshape(1, -1))

    def remove(self, pk: int) -> None:
        """Drop the row of ``pk`` (no-op when absent)."""
        keep = self.pks != pk
        if bool(keep.all()):
            return
        pks, vecs = self.pks[keep], self.vectors[keep]
        self._pks, self._vecs, self.size = pks.copy(), vecs.copy(), len(pks)

    def top(
        self, query: FloatMatrix, n: int, allowed: Iterable[int] | None = None
    ) -> list[tuple[int, float]]:
        """The ``n`` best (pk, cosine) pairs for a unit-norm query, best first."""
        if self.size == 0 or n <= 0:
            return []
        scores = self.vectors @ query.reshape(-1)
        pks = self.pks
        if allowed is not None:
            mask = np.isin(pks, np.fromiter(allowed, dtype=np.int64))
            scores = np.where(mask, scores, -np.inf)
            n = min(n, int(mask.sum()))
            if n == 0:
                return []
        n = min(n, self.size)
        part = np.argpartition(-scores, n - 1)[:n] if n < self.size else np.arange(self.size)
        order = part[np.argsort(-scores[part], kind="stable")]
        return [(int(pks[i]), float(scores[i])) for i in order]

    def max_similarity(self, queries: FloatMatrix) -> tuple[npt.NDArray[np.int64], FloatMatrix]:
        """For each query row: the pk of its most similar stored vector and that similarity."""
        if self.size == 0:
            return np.full(len(queries), -1, dtype=np.int64), np.full(
                len(queries), -np.inf, dtype=np.float32
            )
        sims = queries @ self.vectors.T
        best = np.argmax(sims, axis=1)
        return self.pks[best], sims[np.arange(len(queries)), best].astype(np.float32)


def rrf(
    ranked_lists: Sequence[Sequence[int]], weights: Sequence[float], k: int
) -> list[tuple[int, float]]:
    """Reciprocal rank fusion: score(d) = sum_i w_i / (k + rank_i(d)), ranks 1-based; best first.

    Ties keep the order of first appearance (dense list first), so results are deterministic.
    """
    scores: dict[int, float] = {}
    for ranked, weight in zip(ranked_lists, weights, strict=True):
        for rank, pk in enumerate(ranked, start=1):
            scores[pk] = scores.get(pk, 0.0) + weight / (k + rank)
    return sorted(scores.items(), key=lambda kv: -kv[1])


def pack(costs: Sequence[int], budget: int, limit: int) -> list[int]:
    """Indices of the items to keep, in rank order: greedy by rank, skipping any that no longer fit.

    Taking the best-ranked hits first (rather than the smallest) keeps relevance first; skipping
    an oversize hit and trying the next lets smaller good hits fill what is left of the budget.
    """
    chosen: list[int] = []
    left = budget
    for i, cost in enumerate(costs):
        if len(chosen) >= limit:
            break
        if cost <= left:
            chosen.append(i)
            left -= cost
    return chosen
