"""The dense side of the store: the embedder, vectors kept in the ``embeddings`` table, and one
in-memory matrix per namespace for exact search.

Dense search is exact: one float32 matrix per namespace, multiplied by the query vector with
numpy (BLAS). At 100k x 384 that is ~150 MB read per query, a few milliseconds; no approximate
index is needed at the sizes an agent memory reaches, and exact search has no recall loss. A tag
filter scores only the tagged rows (found by binary search on the pks).
Vectors are float32 blobs keyed by the sha256 of the embedded text and the model name, so
unchanged text is never embedded twice.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from compression_layer.memory.errors import MemoryStoreError

if TYPE_CHECKING:
    from compression_layer.memory.db import Database

FloatMatrix = npt.NDArray[np.float32]
Embedder = Callable[[list[str]], Any]
"""``(texts) -> array (len(texts), dim)``; rows are normalised to unit length by the store."""


@dataclass
class VectorIndex:
    """The vectors of one namespace, rows aligned with ``pks``; grows by doubling on append.

    Searches score a snapshot (``pks``, ``vectors``: views of the current rows) in a worker
    thread, outside the database lock, while writes may change the index. So a row is never
    rewritten in place while ``readers`` (snapshots being scored) is above zero: the matrix is
    copied first. Appends write past the snapshot's rows and ``remove`` builds new arrays, so
    neither touches what a snapshot sees.
    """

    dim: int
    _pks: npt.NDArray[np.int64] = field(init=False)
    _vecs: FloatMatrix = field(init=False)
    size: int = 0
    readers: int = 0
    ascending: bool = True
    """Whether ``pks`` are in increasing order (loaded by pk, appended with new pks): then a pk
    is found by binary search."""

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
        index.ascending = bool(np.all(index._pks[1:] > index._pks[:-1]))
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
        new = np.asarray(pks, dtype=np.int64)
        if self.ascending:
            last = self._pks[self.size - 1] if self.size else None
            rising = bool(np.all(new[1:] > new[:-1]))
            self.ascending = rising and (last is None or bool(new[0] > last))
        need = self.size + n
        if need > len(self._pks):
            cap = max(need, 2 * len(self._pks), 64)
            pk_buf = np.zeros(cap, dtype=np.int64)
            vec_buf = np.zeros((cap, self.dim), dtype=np.float32)
            pk_buf[: self.size] = self.pks
            vec_buf[: self.size] = self.vectors
            self._pks, self._vecs = pk_buf, vec_buf
        self._pks[self.size : need] = new
        self._vecs[self.size : need] = vectors
        self.size = need

    def position(self, pk: int) -> int | None:
        """The row of ``pk``, or None."""
        rows = positions(self.pks, self.ascending, np.asarray([pk], dtype=np.int64))
        return int(rows[0]) if len(rows) else None

    def upsert(self, pk: int, vector: FloatMatrix) -> None:
        """Replace the vector of ``pk`` if present, else append it."""
        row = self.position(pk)
        if row is None:
            self.append([pk], vector.reshape(1, -1))
            return
        if self.readers:  # a worker thread is scoring the current matrix: leave it as it is
            self._vecs = self._vecs.copy()
        self._vecs[row] = vector

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
        """The ``n`` best (pk, cosine) pairs for a unit-norm query, best first; ``allowed``:
        only these pks."""
        return top_rows(self.pks, self.vectors, self.ascending, query, n, allowed)

    def following(self, pks: Iterable[int], allowed: Iterable[int] | None = None) -> dict[int, int]:
        """For each of ``pks`` in the index, the memory stored right after it in this namespace
        (the next pk here; with ``allowed``, the next allowed one); empty unless ``ascending``."""
        if not self.ascending or self.size == 0:
            return {}
        rows = self.pks
        if allowed is not None:
            rows = rows[positions(rows, True, np.unique(np.fromiter(allowed, dtype=np.int64)))]
        wanted = np.fromiter(pks, dtype=np.int64)
        if not len(rows) or not len(wanted):
            return {}
        at = np.searchsorted(rows, wanted, side="right")
        out: dict[int, int] = {}
        for pk, i in zip(wanted.tolist(), at.tolist(), strict=True):
            # Only a pk of this index has a follower here (a bm25 hit of no vector does not).
            j = i - 1
            if i < len(rows) and j >= 0 and rows[j] == pk:
                out[pk] = int(rows[i])
        return out

    def above(
        self, queries: FloatMatrix, threshold: float, limit: int
    ) -> list[list[tuple[int, float]]]:
        """For each query row: up to ``limit`` (pk, cosine) pairs at or above ``threshold``,
        most similar first."""
        if self.size == 0:
            return [[] for _ in range(len(queries))]
        sims = queries @ self.vectors.T
        out: list[list[tuple[int, float]]] = []
        for row in sims:
            hits = np.flatnonzero(row >= threshold)
            hits = hits[np.argsort(-row[hits], kind="stable")][:limit]
            out.append([(int(self.pks[i]), float(row[i])) for i in hits])
        return out


def positions(
    pks: npt.NDArray[np.int64], ascending: bool, wanted: npt.NDArray[np.int64]
) -> npt.NDArray[np.intp]:
    """Rows of ``pks`` that hold one of ``wanted`` (in row order when ``wanted`` is sorted): a
    binary search per wanted pk when ``pks`` are ``ascending``, else one scan."""
    if not len(pks) or not len(wanted):
        return np.zeros(0, dtype=np.intp)
    if not ascending:
        return np.flatnonzero(np.isin(pks, wanted))
    at = np.searchsorted(pks, wanted)
    inside = at < len(pks)
    at = at[inside]
    found: npt.NDArray[np.intp] = at[pks[at] == wanted[inside]]
    return found


def top_rows(
    pks: npt.NDArray[np.int64],
    vectors: FloatMatrix,
    ascending: bool,
    query: FloatMatrix,
    n: int,
    allowed: Iterable[int] | None = None,
) -> list[tuple[int, float]]:
    """The ``n`` best (pk, cosine) pairs of these rows for a unit-norm query, best first.

    With ``allowed`` only those pks are scored: their rows are found by binary search and
    gathered, so a filter matching 1% of 100k memories multiplies 1k rows, not 100k.
    """
    if not len(pks) or n <= 0:
        return []
    q = query.reshape(-1)
    if allowed is None:
        cand, scores = pks, vectors @ q
    else:
        wanted = np.unique(np.fromiter(allowed, dtype=np.int64))
        rows = positions(pks, ascending, wanted)
        if not len(rows):
            return []
        cand = pks[rows]
        # Gathering most of the matrix costs more than scoring all of it and picking rows.
        scores = vectors[rows] @ q if 4 * len(rows) < len(pks) else (vectors @ q)[rows]
    n = min(n, len(scores))
    part = np.argpartition(-scores, n - 1)[:n] if n < len(scores) else np.arange(len(scores))
    order = part[np.argsort(-scores[part], kind="stable")]
    return [(int(cand[i]), float(scores[i])) for i in order]


def _index_of(rows: Sequence[Any]) -> VectorIndex:
    dim = int(rows[0]["dim"])
    vecs = np.frombuffer(b"".join(r["vector"] for r in rows), dtype=np.float32).reshape(-1, dim)
    return VectorIndex.from_rows(dim, [int(r["pk"]) for r in rows], vecs)


def _release(index: VectorIndex) -> None:
    index.readers -= 1


class Vectors:
    """The embedder of one store, the vectors it made, and the namespaces' cached indexes.

    Cached indexes follow our own writes (``upsert``/``remove``) and are dropped when another
    connection has committed (``sync``, through ``PRAGMA data_version`` of the writing
    connection). Methods that read the database expect the caller to hold ``db.lock``, except
    ``lookup``, which takes it; ``top`` scores a snapshot without it.
    """

    def __init__(self, embedder: Embedder, model: str) -> None:
        self.model = model
        self._embedder = embedder
        self._indexes: dict[str, VectorIndex] = {}
        self._data_version: int | None = None
        self._dim: int | None = None
        self.narrow: set[str] = set()
        """Namespaces whose BM25 candidates come from the namespace-filtered FTS query (a
        store-wide pass came up short for them once; see ``search``)."""

    def embed(self, texts: list[str]) -> FloatMatrix:
        """Call the embedder (in a worker thread) and check and normalise what it returns."""
        try:
            raw = self._embedder(texts)
        except Exception as exc:
            raise MemoryStoreError(f"the embedder failed: {exc}") from exc
        vecs = np.asarray(raw, dtype=np.float32)
        if vecs.ndim != 2 or vecs.shape[0] != len(texts):
            raise MemoryStoreError(
                f"the embedder returned shape {vecs.shape} for {len(texts)} texts"
            )
        if self._dim is not None and vecs.shape[1] != self._dim:
            raise MemoryStoreError(
                f"the embedder returned {vecs.shape[1]}-d vectors; this store holds {self._dim}-d"
            )
        self._dim = int(vecs.shape[1])
        norms = np.linalg.norm(vecs, axis=1, keepdims=True)
        return np.ascontiguousarray(vecs / np.where(norms > 0, norms, 1.0), dtype=np.float32)

    async def lookup(self, db: Database, texts: Mapping[str, str]) -> dict[str, FloatMatrix]:
        """Vectors by text hash: read from the embeddings table, embedding only what is missing."""
        found: dict[str, FloatMatrix] = {}
        hashes = list(texts)
        async with db.lock:
            for start in range(0, len(hashes), 500):
                rows = await db.fetchall(
                    "SELECT text_hash, vector FROM embeddings WHERE model = ? AND text_hash IN "
                    "(SELECT value FROM json_each(?))",
                    (self.model, json.dumps(hashes[start : start + 500])),
                )
                for row in rows:
                    found[row["text_hash"]] = np.frombuffer(row["vector"], dtype=np.float32)
        missing = [h for h in hashes if h not in found]
        if missing:
            vecs = await asyncio.to_thread(self.embed, [texts[h] for h in missing])
            found.update(zip(missing, vecs, strict=True))
        return found

    async def sync(self, db: Database) -> None:
        """Drop cached vectors when another connection has committed since we last looked."""
        version = await db.data_version()
        if version != self._data_version:
            self._indexes.clear()
            self._data_version = version

    async def index(self, db: Database, namespace: str) -> VectorIndex | None:
        """The namespace's vectors, loaded once and then kept in step with our own writes."""
        cached = self._indexes.get(namespace)
        if cached is not None:
            return cached
        rows = await db.fetchall(
            "SELECT m.pk, e.vector, e.dim FROM memories m JOIN embeddings e "
            "ON e.text_hash = m.embed_hash AND e.model = m.embed_model "
            "WHERE m.namespace = ? AND m.embed_model = ? AND m.deleted_at IS NULL "
            "ORDER BY m.pk",
            (namespace, self.model),
        )
        if not rows:
            return None
        # Joining 100k blobs into a matrix takes a while: not on the event loop.
        index = await asyncio.to_thread(_index_of, rows)
        self._indexes[namespace] = index
        return index

    async def top(
        self,
        index: VectorIndex,
        query: FloatMatrix,
        n: int,
        allowed: Iterable[int] | None = None,
    ) -> list[tuple[int, float]]:
        """``index.top`` in a worker thread, over a snapshot taken here: writes may change
        the index meanwhile (see ``VectorIndex``); the caller need not hold ``db.lock``."""
        pks, vecs, ascending = index.pks, index.vectors, index.ascending
        index.readers += 1
        future = asyncio.get_running_loop().run_in_executor(
            None, top_rows, pks, vecs, ascending, query, n, allowed
        )
        # The count drops when the thread is done, not when a cancelled caller stops waiting.
        future.add_done_callback(lambda _: _release(index))
        return await asyncio.shield(future)

    def upsert(self, namespace: str, pk: int, vector: FloatMatrix) -> None:
        """A committed row's vector, into the namespace's index if it is cached."""
        index = self._indexes.get(namespace)
        if index is not None:
            index.upsert(pk, vector)

    def remove(self, namespace: str, pk: int) -> None:
        index = self._indexes.get(namespace)
        if index is not None:
            index.remove(pk)

    def forget(self, namespace: str | None = None) -> None:
        """Drop the cached index of ``namespace`` (None: all); it reloads on next use."""
        if namespace is None:
            self._indexes.clear()
        else:
            self._indexes.pop(namespace, None)

    @asynccontextmanager
    async def transaction(self, db: Database) -> AsyncIterator[None]:
        """``db.transaction()`` that first brings the cache up to date; hold ``db.lock``.

        On any error every cached index is dropped: cancelled while COMMIT was in flight, the
        rows may be in, and our own commits do not bump ``data_version``.
        """
        try:
            async with db.transaction():
                await self.sync(db)
                yield
        except BaseException:
            self.forget()
            raise
