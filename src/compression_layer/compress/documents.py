"""One token budget across several documents (RAG chunks), spent where the query points.

``compress_documents(documents, query=..., target_tokens=...)`` encodes every document and the
query in one batch of the extractive encoder, ranks the documents by their most relevant
sentence, and splits the budget in proportion to each document's length times a weight that
falls off with its distance from the best document's relevance (water-filling: a document never
gets more than its own length, and what it cannot use goes to the others). A document whose share
is too small to say anything is dropped whole rather than reduced to a few stray words; every
other document is compressed on its own budget with the query applied, so each keeps its own
boundaries: one output per input, in input order.

Without a query every document is equally relevant and the budget is shared by length.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from compression_layer.compress.extractive.engine import ExtractiveEngine
from compression_layer.compress.extractive.query import EncodedQuery, sentence_relevance
from compression_layer.compress.extractive.text import Unit
from compression_layer.compress.inputs import check_budget
from compression_layer.tokens import count_tokens

# A document allotted fewer tokens than this is dropped whole: a dozen kept words out of a
# 300-token chunk read as noise, and the tokens do more in a relevant document.
MIN_DOCUMENT_TOKENS = 16
# How sharply the budget follows relevance: a document one relevance unit below the best gets
# exp(-2) of the best one's share per token.
SHARPNESS = 2.0


@dataclass
class CompressedDocument:
    """One input document after compression (``text`` is empty when it was dropped)."""

    index: int
    text: str
    tokens_original: int
    tokens_compressed: int
    relevance: float
    rank: int
    budget: int
    dropped: bool = False


@dataclass
class DocumentsOutput:
    """Every document in input order, the totals, and notes (drops, budget overruns)."""

    documents: list[CompressedDocument]
    tokens_original: int
    tokens_compressed: int
    notes: list[str] = field(default_factory=list)

    def joined(self, separator: str = "\n\n") -> str:
        """The kept documents' texts in input order, separated by ``separator``."""
        return separator.join(d.text for d in self.documents if not d.dropped and d.text)


def allocate(
    lengths: list[int], weights: list[float], budget: int, minimums: list[int] | None = None
) -> list[int]:
    """Split ``budget`` tokens in proportion to ``weights``, never above a document's length.

    A share under its document's minimum (default :data:`MIN_DOCUMENT_TOKENS`) is set to zero,
    weakest first, and its tokens go to the others.
    """
    n = len(lengths)
    minimum = minimums or [MIN_DOCUMENT_TOKENS] * n
    alloc = [0] * n
    active = {i for i in range(n) if lengths[i] > 0 and weights[i] > 0}
    while active:
        remaining = budget - sum(alloc[i] for i in range(n) if i not in active)
        total = sum(weights[i] for i in active)
        share = {i: remaining * weights[i] / total for i in active}
        capped = {i for i in active if share[i] >= lengths[i]}
        if capped:
            for i in capped:
                alloc[i] = lengths[i]
            active -= capped
            continue
        small = {i for i in active if share[i] < minimum[i]}
        if small and len(small) < len(active):
            weakest = min(small, key=lambda i: (weights[i] / max(1, lengths[i]), -i))
            active.discard(weakest)
            alloc[weakest] = 0
            continue
        for i in active:
            alloc[i] = math.floor(share[i])
        break
    return alloc


def compress_documents(
    documents: list[str],
    *,
    target_tokens: int,
    query: str | None = None,
    engine: ExtractiveEngine | None = None,
) -> DocumentsOutput:
    """Compress ``documents`` together into about ``target_tokens`` o200k tokens.

    ``engine`` defaults to the packaged extractive engine (loaded once per process).
    """
    check_budget(None, target_tokens)
    if not documents:
        return DocumentsOutput([], 0, 0)
    if engine is None:
        from compression_layer.compress.extractive.service import load_extractive

        engine = load_extractive()
    asked = query if query and query.strip() else None
    prepared = engine.prepare(documents, query=asked)
    lengths = [count_tokens(d) for d in documents]
    encoded = engine.encode_queries([asked])[0] if asked else None
    relevance = [
        _relevance(p.units, p.vectors, encoded, engine) if encoded is not None else 0.0
        for p in prepared
    ]
    top = max(relevance)
    weights = [n * math.exp(SHARPNESS * (r - top)) for n, r in zip(lengths, relevance, strict=True)]
    notes: list[str] = []
    if sum(lengths) <= target_tokens:
        budgets = list(lengths)
    else:
        # A document needs at least what it always keeps (facts, operators, layout): a smaller
        # share would overrun the budget, so such a document is dropped instead.
        floors = [
            max(MIN_DOCUMENT_TOKENS, int(sum(int(p.costs[k]) for k in p.forced))) for p in prepared
        ]
        budgets = allocate(lengths, weights, target_tokens, floors)
    order = sorted(range(len(documents)), key=lambda i: (-relevance[i], i))
    rank = {doc: r for r, doc in enumerate(order)}
    out: list[CompressedDocument] = []
    for i, (p, budget) in enumerate(zip(prepared, budgets, strict=True)):
        if budget == 0:
            out.append(CompressedDocument(i, "", lengths[i], 0, relevance[i], rank[i], 0, True))
            continue
        if budget >= lengths[i]:
            text = documents[i]
        else:
            result = engine.finish(p, target_tokens=budget, query=asked, encoded=encoded)
            text = result.text
            notes.extend(f"document {i}: {note}" for note in result.notes)
        tokens = count_tokens(text)
        out.append(CompressedDocument(i, text, lengths[i], tokens, relevance[i], rank[i], budget))
    dropped = [d.index for d in out if d.dropped]
    if dropped:
        notes.append(
            f"dropped {len(dropped)} of {len(documents)} documents as least relevant "
            f"(a share below what each must keep, facts and layout): {dropped}"
        )
    return DocumentsOutput(out, sum(lengths), sum(d.tokens_compressed for d in out), notes)


def _relevance(
    units: list[Unit],
    vectors: npt.NDArray[np.float16] | None,
    query: EncodedQuery,
    engine: ExtractiveEngine,
) -> float:
    """A document is as relevant as its most relevant sentence."""
    if not units or vectors is None:
        return 0.0
    _, per_sentence = sentence_relevance(units, vectors, query, engine.query_weights())
    return float(np.max(per_sentence)) if len(per_sentence) else 0.0
