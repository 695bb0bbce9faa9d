"""The extractive engine: keep the words a learned MiniLM classifier ranks highest.

``compress(text, rate=...)`` scores every word unit, always keeps protected facts (numbers, dates,
names, quotes, URLs... from :mod:`facts`) and layout (newlines, list markers, heading marks), then
adds the best-scored remaining words until the o200k token budget is spent. With ``query`` the
question is encoded in the same encoder pass as the text, and sentences (and paragraphs) relevant
to it are raised by rank (:mod:`extractive.query`), so an answer-bearing sentence survives nearly
whole (the question-aware, coarse-to-fine step of LongLLMLingua, done our way: no second model and
no per-sentence model call). One engine serves concurrent threads: after ``load`` it only reads.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from compression_layer.compress.extractive.adapter import LoadedAdapter, load_adapter
from compression_layer.compress.extractive.query import (
    EncodedQuery,
    QueryWeights,
    encoded_query,
    query_boost,
    query_units,
    unit_rows,
)
from compression_layer.compress.extractive.text import (
    Unit,
    drop_orphan_marks,
    is_number_word,
    is_stopword,
    join_units,
    list_item_words,
    split_units,
    structural_units,
    units_in_spans,
)
from compression_layer.compress.inputs import check_budget
from compression_layer.tokens import count_tokens, encoding

DEFAULT_ADAPTER = "extractive-default"
# Inputs under this many o200k tokens come back unchanged: at the default rate a 7-token input
# would keep 3, the facts alone ("14 March." for "Paid on 14 March."), and saves nothing worth it.
TINY_TOKENS = 8
QUERY_CACHE = 8


@dataclass
class ExtractiveOutput:
    """Compressed text, the o200k share of tokens kept, and notes (budget overruns...)."""

    text: str
    kept_ratio: float
    notes: list[str] = field(default_factory=list)


def packaged_adapter_dir() -> Path:
    """Folder of the adapter shipped inside the package."""
    return Path(
        str(resources.files("compression_layer").joinpath("data/adapters", DEFAULT_ADAPTER))
    )


def unit_costs(units: list[Unit]) -> npt.NDArray[np.int64]:
    """o200k tokens each unit adds to the output (words carry their leading space)."""
    return np.array(
        [_piece_cost((" " + u.text) if u.is_word else u.text) for u in units], dtype=np.int64
    )


@lru_cache(maxsize=65536)
def _piece_cost(piece: str) -> int:
    # One word at a time: tiktoken's batch call starts a thread pool per call, which cost more
    # than the encoder itself on a 500-token input; words repeat, so the cache hits most.
    return len(encoding().encode_ordinary(piece))


def content_mask(units: list[Unit]) -> npt.NDArray[np.float64]:
    """1.0 for content words: the teacher drops some that answers need, so they get a bias."""
    return np.array([u.is_word and not is_stopword(u.text) for u in units], dtype=np.float64)


def _repeat_mask(units: list[Unit]) -> npt.NDArray[np.float64]:
    """1.0 for a content word whose normalised form already appeared earlier in the text.

    A repeat carries less new information than a first mention, so under a budget the first
    mention should win; the penalty spends the freed tokens on words seen nowhere else.
    """
    seen: set[str] = set()
    out = np.zeros(len(units), dtype=np.float64)
    for i, unit in enumerate(units):
        if unit.is_word and not is_stopword(unit.text):
            key = unit.text.lower()
            if key in seen:
                out[i] = 1.0
            seen.add(key)
    return out


def neighbour_mean(scores: npt.NDArray[np.float64], window: int) -> npt.NDArray[np.float64]:
    """Mean score of each unit and its ``window`` neighbours on each side (cut at the ends).

    Added to a unit's own score with a small weight, it keeps phrases together: a word between
    kept words is worth more than the same word among dropped ones, so a multi-word answer
    ("granted the Huguenots substantial autonomy") is kept whole or not at all more often than
    word by word. Chosen on the tuning split only: answers of three or more content words +2 to
    +3 points there, the rest within noise (``bench/extractive_tries.py``).
    """
    n = len(scores)
    if not n:
        return scores
    total = np.concatenate([[0.0], np.cumsum(scores)])
    pos = np.arange(n)
    lo = np.clip(pos - window, 0, n)
    hi = np.clip(pos + window + 1, 0, n)
    return np.asarray((total[hi] - total[lo]) / (hi - lo), dtype=np.float64)


def word_scores(
    logits: npt.NDArray[np.float64],
    units: list[Unit],
    *,
    content_bias: float,
    repeat_penalty: float,
    coherence: float = 0.0,
    coherence_window: int = 1,
) -> npt.NDArray[np.float64]:
    """Selection scores from the head's keep logits: repeats lowered, each score moved
    ``coherence`` of the way toward its neighbours' mean, content words raised."""
    own = logits - repeat_penalty * _repeat_mask(units)
    if coherence:
        own = own + coherence * neighbour_mean(own, coherence_window)
    return np.asarray(own + content_bias * content_mask(units), dtype=np.float64)


def forced_units(text: str, units: list[Unit]) -> set[int]:
    """Units that are always kept: facts, meaning operators, and layout.

    Facts (numbers, names, identifiers ...) and operators (not, n't, may, unless, more than, ?)
    are kept because losing one changes what the text says; layout (list markers, headings,
    speaker labels, table pipes, sentence ends) because losing it changes how it reads.
    """
    from compression_layer.compress import operators

    spans = sorted([*_fact_spans(text), *operators.protected_spans(text)])
    facts_and_layout = structural_units(text, units) | units_in_spans(units, spans)
    return facts_and_layout | counted_units(units)


def counted_units(units: list[Unit]) -> set[int]:
    """Spelled-out numbers, and the word a number counts: "two new regiments", "380 years".

    A number without what it counts ("36" for "36 passengers") or its scale ("2" for
    "2 million") no longer says the same thing; the counted word is the next unit when it is a
    content word (a unit, a scale, a noun, or an adjective before one: "two new").
    """
    out: set[int] = set()
    for i, unit in enumerate(units):
        if not unit.is_word or not (is_number_word(unit.text) or unit.text[:1].isdigit()):
            continue
        if is_number_word(unit.text):
            out.add(i)
        j = i + 1
        if j < len(units) and units[j].is_word and not is_stopword(units[j].text):
            out.add(j)
    return out


# Name kinds forced only where first mentioned: a later "Beyoncé" adds nothing the guard or a
# reader needs, and forcing every mention cost 1.1 points of answers kept on the tuning split
# (SQuAD articles 0-3). Numbers, dates, money and quotes stay forced at every mention: "3 apples
# and 3 pears" are two facts that happen to share a spelling.
_FIRST_MENTION_KINDS = frozenset({"name", "identifier"})


def _fact_spans(text: str) -> list[tuple[int, int]]:
    from compression_layer.compress import facts

    seen: set[tuple[str, str]] = set()
    spans: list[tuple[int, int]] = []
    for fact in facts.extract(text):
        key = (fact.kind, fact.text)  # "ENEL" and "Enel" are two spellings a reader may need
        if fact.kind in _FIRST_MENTION_KINDS and key in seen:
            continue
        seen.add(key)
        spans.append((fact.start, fact.end))
    return spans


def select(
    scores: npt.NDArray[np.float64],
    costs: npt.NDArray[np.int64],
    forced: set[int],
    budget: int,
) -> list[bool]:
    """Forced units, then the highest scores while the token budget allows (ties: text order)."""
    keep = [False] * len(scores)
    spent = 0
    for i in forced:
        keep[i] = True
        spent += int(costs[i])
    for i in np.argsort(-scores, kind="stable"):
        if keep[i]:
            continue
        if spent + int(costs[i]) > budget:
            continue
        keep[i] = True
        spent += int(costs[i])
    return keep


def keep_best_word(scores: npt.NDArray[np.float64], units: list[Unit], keep: list[bool]) -> bool:
    """When the selection kept no word, keep the best-scored one; True if it had to.

    A budget below the cost of every word (a rate on a one-word input, a single 1 MB "word")
    must not turn a non-empty input into an empty output.
    """
    words = [i for i, unit in enumerate(units) if unit.is_word]
    if not words or any(keep[i] for i in words):
        return False
    keep[max(words, key=lambda i: (scores[i], -i))] = True
    return True


def trim_to_budget(
    units: list[Unit],
    keep: list[bool],
    scores: npt.NDArray[np.float64],
    prepared: Prepared,
    budget: int,
    rounds: int = 3,
) -> tuple[str, int]:
    """Join the kept units; while the joined text counts over ``budget``, drop the lowest-scored
    kept words that are not forced (never the last one) and join again. Returns (text, tokens).

    Selection adds up each word's own cost, but joined text tokenizes a little differently (a
    mark glued to the word before it, a space put back across a cut), so outputs ran 1-2 tokens
    over on dense text; a budget is a budget.
    """
    out = join_units(units, keep)
    used = count_tokens(out)
    for _ in range(rounds):
        over = used - budget
        if over <= 0:
            break
        words = [i for i, k in enumerate(keep) if k and units[i].is_word]
        free = sorted((i for i in words if i not in prepared.forced), key=lambda i: scores[i])
        droppable = free[: len(words) - 1]
        if not droppable:
            break
        for i in droppable:
            if over <= 0:
                break
            keep[i] = False
            over -= int(prepared.costs[i])
        drop_orphan_marks(units, keep)
        out = join_units(units, keep)
        used = count_tokens(out)
    return out, used


@dataclass
class Prepared:
    """A text split into units with its keep logits, token costs and forced (always kept) units.

    ``vectors`` (unit-length encoder vectors, float16) are kept only when a query will be
    applied, so a plain compression never holds them.
    """

    text: str
    units: list[Unit]
    logits: npt.NDArray[np.float64]
    costs: npt.NDArray[np.int64]
    forced: set[int]
    vectors: npt.NDArray[np.float16] | None = None


def _prepared(text: str, units: list[Unit], scores: npt.NDArray[np.float64]) -> Prepared:
    forced = forced_units(text, units)
    for words in list_item_words(text, units):
        if not forced.intersection(words):
            forced.add(max(words, key=lambda i: scores[i]))  # a bullet never stands empty
    return Prepared(text, units, scores, unit_costs(units), forced)


class ExtractiveEngine:
    """Learned keep/drop compression of prose (see the module docstring)."""

    name = "extractive"

    def __init__(self, adapter: LoadedAdapter) -> None:
        self._adapter = adapter
        self.adapter_name: str = adapter.name
        self.default_rate: float = adapter.default_rate
        # Queries encoded with the texts of a batch, for that batch's finish() calls (a few
        # kept, so concurrent calls with different questions do not encode theirs twice).
        self._queries: dict[str, EncodedQuery] = {}
        self._query_lock = threading.Lock()

    @classmethod
    def load(cls, adapter_dir: Path | None = None) -> ExtractiveEngine:
        """Load an adapter folder (``None``: the packaged default); EngineError names it if bad."""
        return cls(load_adapter(adapter_dir or packaged_adapter_dir()))

    def compress(
        self,
        text: str,
        *,
        rate: float | None = None,
        target_tokens: int | None = None,
        query: str | None = None,
    ) -> ExtractiveOutput:
        """Keep about ``rate`` of the o200k tokens (or ``target_tokens``) of ``text``."""
        return self.compress_batch([text], rate=rate, target_tokens=target_tokens, query=query)[0]

    def compress_batch(
        self,
        texts: list[str],
        *,
        rate: float | None = None,
        target_tokens: int | None = None,
        query: str | None = None,
    ) -> list[ExtractiveOutput]:
        """Compress several texts with one encoder pass over all their windows."""
        check_budget(rate, target_tokens)  # before the encoder runs; finish() checks again
        asked = query if query and query.strip() else None
        prepared = self.prepare(texts, query=asked)
        encoded = self._encoded_query if asked else None
        return [
            self.finish(
                p,
                rate=rate,
                target_tokens=target_tokens,
                query=asked,
                encoded=encoded(asked) if encoded and asked else None,
            )
            for p in prepared
        ]

    def prepare(
        self, texts: list[str], *, query: str | None = None, keep_vectors: bool = False
    ) -> list[Prepared]:
        """Score every unit of every text (one encoder pass); reusable across rates.

        With ``query`` the question rides in the same encoder pass (its vectors are cached for
        :meth:`finish`) and each text keeps its unit vectors; ``keep_vectors`` keeps them
        without a query (several questions will be asked of the same texts).
        """
        docs = [split_units(t) for t in texts]
        q_units = query_units(query) if query else []
        vectors = self._adapter.unit_vectors([*docs, q_units] if query else docs)
        if query:
            self._remember_query(query, q_units, vectors[-1].numpy())
            vectors = vectors[:-1]
        logits = self._adapter.logits(docs, vectors)
        config = self._adapter.config
        out: list[Prepared] = []
        for text, units, scores, vec in zip(texts, docs, logits, vectors, strict=True):
            p = _prepared(
                text,
                units,
                word_scores(
                    scores,
                    units,
                    content_bias=config.content_bias,
                    repeat_penalty=config.repeat_penalty,
                    coherence=config.coherence,
                    coherence_window=config.coherence_window,
                ),
            )
            if query or keep_vectors:
                p.vectors = unit_rows(vec.numpy()).astype(np.float16)
            out.append(p)
        return out

    @property
    def adapter(self) -> LoadedAdapter:
        """The loaded adapter (config, tokenizer, encoder, head); read-only."""
        return self._adapter

    def query_weights(self) -> QueryWeights:
        """How this adapter turns query relevance into boosts."""
        return self._adapter.query.weights()

    def encode_queries(self, queries: list[str]) -> list[EncodedQuery]:
        """Encode several questions in one batch (for asking many of the same prepared texts)."""
        units = [query_units(q) for q in queries]
        vectors = self._adapter.unit_vectors(units)
        return [
            encoded_query(q, u, v.numpy()) for q, u, v in zip(queries, units, vectors, strict=True)
        ]

    def _remember_query(self, query: str, units: list[Unit], vectors: npt.NDArray[Any]) -> None:
        with self._query_lock:
            self._queries[query] = encoded_query(query, units, vectors)
            while len(self._queries) > QUERY_CACHE:
                self._queries.pop(next(iter(self._queries)))

    def _encoded_query(self, query: str) -> EncodedQuery:
        with self._query_lock:
            hit = self._queries.get(query)
        return hit if hit is not None else self.encode_queries([query])[0]

    def finish(
        self,
        prepared: Prepared,
        *,
        rate: float | None = None,
        target_tokens: int | None = None,
        query: str | None = None,
        scores: npt.NDArray[np.float64] | None = None,
        encoded: EncodedQuery | None = None,
    ) -> ExtractiveOutput:
        """Select and join the units of a prepared text under the budget (``scores`` overrides).

        ``encoded`` is the query from :meth:`encode_queries` (encoded here when absent); a text
        prepared without vectors is encoded again, once, when a query is applied to it.
        """
        check_budget(rate, target_tokens)
        text, units = prepared.text, prepared.units
        original = count_tokens(text)
        if not units or original == 0:
            return ExtractiveOutput(text, 1.0, [])
        if original < TINY_TOKENS:
            note = f"too short to compress ({original} tokens): returned unchanged"
            return ExtractiveOutput(text, 1.0, [note])
        notes: list[str] = []
        if target_tokens is not None:
            budget = target_tokens
        else:
            budget = math.floor(original * (rate if rate is not None else self.default_rate))
        scores = prepared.logits.copy() if scores is None else scores.copy()
        if query and query.strip():
            if prepared.vectors is None:
                prepared = self.prepare([text], keep_vectors=True)[0]
            assert prepared.vectors is not None
            q = encoded if encoded is not None else self._encoded_query(query)
            scores += query_boost(units, prepared.vectors, q, self._adapter.query.weights())
        forced_cost = int(sum(int(prepared.costs[i]) for i in prepared.forced))
        if forced_cost > budget:
            notes.append(
                f"protected facts, operators and layout need {forced_cost} tokens, above the "
                f"budget of {budget}: kept them all (the shortest output that keeps meaning)"
            )
        keep = select(scores, prepared.costs, prepared.forced, budget)
        if keep_best_word(scores, units, keep):
            notes.append(f"no word fits the budget of {budget} tokens: kept the best-scored one")
        drop_orphan_marks(units, keep)
        out, used = trim_to_budget(units, keep, scores, prepared, budget)
        if not out.strip():  # only layout or punctuation survived: nothing to read
            notes.append("nothing worth keeping fits the budget: returned the input unchanged")
            return ExtractiveOutput(text, 1.0, notes)
        return ExtractiveOutput(out, used / original, notes)
