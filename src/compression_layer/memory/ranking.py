"""Ranking: FTS5 query text, rank fusion, packing into a token budget, and telling a
near-duplicate from a correction (``meaning_differences``, ``is_version``, ``newer_first``).

Pure functions over texts, ranks and vectors: no database and no embedder here.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from compression_layer.compress import facts, operators
from compression_layer.memory.types import SearchHit

FloatMatrix = npt.NDArray[np.float32]
R = TypeVar("R")

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
    unique = list(dict.fromkeys(w.replace('"', "") for w in query_terms(text)))
    if not unique:
        return None
    return " OR ".join(f'"{w}"' for w in unique)


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


# -- calibrated relevance ------------------------------------------------------------------------


@dataclass(frozen=True)
class Calibration:
    """A search mode's relevance model: score = P(answerable) x P(relevant | answerable, rank).

    The *gate* (logistic over the query's best cosine and its words' ``coverage`` by the best
    BM25 matches, both independent of how many memories there are) says whether the store holds
    anything about the query at all; the *rank* part (Platt scaling
    of the normalised fused score, see ``fused_relevance``) says how likely a hit at that place is
    one of the relevant memories. The gate is one number per query, so the order inside a query
    stays the fusion's; a nonsense query gets a gate near 0 and every hit a score near 0.
    Fitted on LoCoMo dev conversations by ``bench/memory_calibrate.py`` (results in
    ``bench/results/memory_calibration.json``). Nothing in it depends on the backend's own
    lexical scores, only on ranks, cosines and texts.
    """

    gate_bias: float
    gate_cosine: float
    gate_lexical: float
    rank_bias: float
    rank_slope: float

    def answerable(self, top_cosine: float | None, coverage: float | None) -> float:
        """P(the store holds a memory relevant to the query), from its best cosine and the
        ``coverage`` of its words by its best BM25 matches."""
        z = self.gate_bias
        z += self.gate_cosine * (top_cosine or 0.0)
        z += self.gate_lexical * (coverage or 0.0)
        return _sigmoid(z)

    def relevance(self, gate: float, fused: float) -> float:
        """The calibrated score of a hit whose normalised fused score is ``fused`` (0..1)."""
        if fused <= 0.0:
            return 0.0
        return gate * _sigmoid(self.rank_bias + self.rank_slope * fused)


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


CALIBRATED_MODEL = "all-MiniLM-L6-v2"
"""The embedding model ``CALIBRATIONS`` were fitted with: cosines of another vector space mean
something else, so a store embedding with another model reports the normalised fused score
(``fused_relevance``) instead and applies no default threshold."""

CALIBRATIONS: dict[str, Calibration] = {
    "hybrid": Calibration(-11.185, 14.56, 8.938, -6.594, 6.66),
    "dense": Calibration(-10.795, 22.271, 0.0, -5.675, 4.369),
    "bm25": Calibration(-6.612, 0.0, 14.462, -6.61, 5.774),
}
"""Per search mode; from ``bench/memory_calibrate.py`` (see ``Calibration``)."""


COVERAGE_OF = 3
"""How many of the best BM25 hits ``coverage`` looks at."""


def query_terms(text: str) -> list[str]:
    """The words ``fts_query`` searches for, lower case, each once."""
    words = [w.lower() for w in _WORD.findall(text)]
    content = [w for w in words if w not in STOPWORDS] or words
    return list(dict.fromkeys(content))


def coverage(query: str, texts: Sequence[str]) -> float:
    """The largest share of the query's search words that one of ``texts`` holds (0..1).

    A word counts when the text has it or, for words of five letters and more, a word with the
    same first five letters (a cheap stand-in for the index's stemming: "painted"/"painting").
    """
    terms = query_terms(query)
    if not terms:
        return 0.0
    best = 0.0
    for text in texts:
        words = {w.lower() for w in _WORD.findall(text)}
        stems = {w[:5] for w in words if len(w) >= 5}
        held = sum(1 for t in terms if t in words or (len(t) >= 5 and t[:5] in stems))
        best = max(best, held / len(terms))
    return best


def tied_ranks(scores: Sequence[float], tolerance: float = 1e-6) -> list[int]:
    """1-based ranks of a best-first score list, equal scores (within ``tolerance``) sharing
    the best of their places ("1, 2, 2, 4"): two memories that match a query equally well get
    the same fused score, and recency decides between them."""
    ranks: list[int] = []
    for i, score in enumerate(scores):
        tied = i > 0 and abs(scores[i - 1] - score) <= tolerance
        ranks.append(ranks[-1] if tied else i + 1)
    return ranks


def fused_relevance(
    ranked_lists: Sequence[Sequence[tuple[int, float]]],
    weights: Sequence[float],
    k: int,
    following: Mapping[int, int] | None = None,
    lending: Sequence[float] | None = None,
) -> list[tuple[int, float]]:
    """Weighted reciprocal rank fusion of (pk, score) lists (best first, ties sharing a rank),
    scaled to [0, 1] by the most any item can get; best first, ties in first-seen order.

    With ``following`` (pk -> the memory stored right after it) an item of list ``i`` also
    lends ``lending[i]`` of its share to its follower, up to just under the lender's own
    score: in a conversation the turn that answers a question often comes right after the
    one that shares its words, and it never outranks the match that lifted it. The store
    lends from the BM25 list only (``bench/memory_calibrate.py``).
    """
    lend = list(lending) if lending is not None and following else [0.0] * len(weights)
    top = sum(w / (k + 1) for w in weights)
    own: dict[int, float] = {}
    lent: dict[int, float] = {}
    lender: dict[int, int] = {}
    for ranked, weight, share_lent in zip(ranked_lists, weights, lend, strict=True):
        ranks = tied_ranks([score for _, score in ranked])
        for (pk, _), rank in zip(ranked, ranks, strict=True):
            share = weight / (k + rank)
            own[pk] = own.get(pk, 0.0) + share
            after = following.get(pk) if following and share_lent else None
            if after is not None:
                lent[after] = lent.get(after, 0.0) + share_lent * share
                lender.setdefault(after, pk)
    fused = dict(own)
    for pk, extra in lent.items():
        mine = own.get(pk, 0.0)
        cap = own[lender[pk]] * (1.0 - 1e-6)
        fused[pk] = max(mine, min(mine + extra, cap))
    scaled = ((pk, min(f / top, 1.0) if top > 0 else 0.0) for pk, f in fused.items())
    return sorted(scaled, key=lambda kv: -kv[1])


def decay(score: float, age_days: float, half_life_days: float | None) -> float:
    """``score`` halved every ``half_life_days`` of age (None: no decay; negative age: none)."""
    if half_life_days is None or age_days <= 0:
        return score
    return score * math.pow(0.5, age_days / half_life_days)


def age_days(created_at: str, now: datetime) -> float:
    """Days from an ISO 8601 timestamp (a naive one is UTC) to ``now`` (aware)."""
    then = datetime.fromisoformat(created_at)
    if then.tzinfo is None:
        then = then.replace(tzinfo=UTC)
    return (now - then).total_seconds() / 86400.0


def by_score_newest_first(scores: Sequence[float], times: Sequence[str]) -> list[int]:
    """Indices ordered by score, equal scores newest first (ISO times of one zone compare as
    text), then by position."""
    order = sorted(range(len(scores)), key=lambda i: times[i], reverse=True)
    order.sort(key=lambda i: -scores[i])
    return order


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


# -- meaning: near-duplicates versus corrections -----------------------------------------------

VERSION_SIMILARITY = 0.85
"""Cosine at or above which two memories can be two versions of one statement (``is_version``
decides). Under MiniLM a corrected time, date, amount or an added negation scores 0.86-0.97
against the old text, the same sentence about another person 0.5-0.7; distinct ids can reach
0.94 ("Room 101"/"Room 102"), which is why versions are only ordered and hinted, never merged."""

_DIGIT_TOKEN = re.compile(r"\S*\d\S*")
_EDGE_PUNCT = ".,;:!?()[]{}\"'“”‘’"
_SENTENCE_START = re.compile(r"(?:^|(?<=[.!?:;])\s+|\n)[\"'“‘(\[]*(\w+)")
_APOSTROPHES = re.compile(r"[’ʼ`´′]")
# Contractions typed without an apostrophe ("isnt") still negate. "cant" and "wont" are words
# too, but a false hit only keeps two memories apart, the safe direction.
_BARE_NOT = re.compile(
    r"\b(is|are|was|were|do|does|did|has|have|had|could|should|would|must|need|might|ca|wo|ai"
    r"|sha)nt\b",
    re.IGNORECASE,
)
# A modal's contraction spelled out, so "shouldn't" and "should not" carry the same operators.
_MODAL_NOT = re.compile(
    r"\b(?:(ca|sha|could|should|would|must|might|need|ought)n't|(can)not)\b", re.IGNORECASE
)
_MODAL_STEM = {"ca": "can", "sha": "shall"}


def _digit_tokens(text: str) -> list[str]:
    return sorted(t.strip(".,;:!?()[]{}\"'").lower() for t in _DIGIT_TOKEN.findall(text))


def same_facts(a: str, b: str) -> bool:
    """Whether two texts hold the same digit-bearing tokens (times, dates, amounts, versions).

    MiniLM barely sees numbers: "the key expires on 2024-05-01" and "... 2024-06-01" have a
    cosine of 0.998, so similarity alone would take one for a duplicate of the other.
    """
    return _digit_tokens(a) == _digit_tokens(b)


def _spelled_out(text: str) -> str:
    text = _BARE_NOT.sub(r"\1n't", _APOSTROPHES.sub("'", text))

    def expand(m: re.Match[str]) -> str:
        stem = (m.group(1) or m.group(2)).lower()
        return f"{_MODAL_STEM.get(stem, stem)} not"

    return _MODAL_NOT.sub(expand, text)


def _lost_facts(a: str, b: str) -> list[str]:
    """Facts of ``a`` absent from ``b``, ignoring case ("3PM" survives as "3pm").

    A capitalised word opening a sentence counts too: ``facts`` leaves it out (it may be
    capitalised by position only), but "Priya is allergic" and "Marco is allergic" must not
    pass for the same statement.
    """
    words = " ".join(_WORD.findall(b.lower()))
    lost = facts.missing(a, b)
    lost += [w for w in _SENTENCE_START.findall(a) if w[0].isupper() and w not in lost]
    return [f for f in lost if f" {' '.join(_WORD.findall(f.lower()))} " not in f" {words} "]


def meaning_differences(a: str, b: str) -> list[str]:
    """What one text states that the other does not: facts or meaning operators lost either way.

    Facts are numbers, dates, names, identifiers (``compress.facts``); operators are negation,
    modality, condition, comparison and the question mark (``compress.operators``), compared by
    count per key, with contractions spelled out ("isn't" negates as "is not" does). Empty when
    the two texts agree on all of them, which is what makes a similar text a near-duplicate
    rather than a correction.
    """
    out: list[str] = []
    for x, y in ((a, b), (b, a)):
        out += [f for f in _lost_facts(x, y) if f not in out]
    if not out and not same_facts(a, b):
        out.append("digits")
    ops_a, ops_b = _spelled_out(a), _spelled_out(b)
    for x, y in ((ops_a, ops_b), (ops_b, ops_a)):
        out += [k for k in operators.missing(x, y) if k not in out]
    return out


def _words(text: str) -> Counter[str]:
    return Counter(w.strip(_EDGE_PUNCT).lower() for w in text.split() if w.strip(_EDGE_PUNCT))


def is_version(a: str, b: str) -> bool:
    """Whether ``b`` rewrites ``a`` in a few words that change a fact or an operator.

    Similar embeddings are not enough: MiniLM puts two different chat turns ("Thanks, Jon!
    Appreciate your support!" / "Thanks, Jon! Appreciate the kind words.") above 0.85. A
    correction keeps the wording and changes a few spans, so at most a quarter of the words
    (at least 4: "3pm" -> "4pm" is two) may differ, and what differs must be a fact or operator.
    """
    wa, wb = _words(a), _words(b)
    changed = (wa - wb).total() + (wb - wa).total()
    if changed > max(4, (wa.total() + wb.total()) // 4):
        return False
    return bool(meaning_differences(a, b))


CONTRADICTION_SIMILARITY = 0.6
"""Cosine at or above which two short statements about one subject may contradict each other
(``contradicts`` decides). Under MiniLM "Alice lives in Paris." / "Alice moved to Berlin." is
0.69, "Bob works at Google." / "Bob now works at Microsoft." 0.68."""
_STATEMENT_WORDS = 25  # longer texts (chat turns, notes) hold several statements: not compared


_SUBJECT = re.compile(r"[\"'“‘(\[]*([A-Z][\w-]*)(?:['’]s)?\s+[a-z]")
_WHEN_KINDS = frozenset({"date", "time"})


def _subject(text: str) -> str | None:
    """The name a statement opens with, followed by a lower-case word ("Alice moved",
    "Alice's sister"): "Caroline (8 May): I went..." opens with a speaker label instead."""
    m = _SUBJECT.match(text.lstrip())
    return m.group(1).lower() if m else None


def contradicts(a: str, b: str) -> bool:
    """Whether two short statements say different things about the same subject.

    Cheap and conservative: both at most 25 words, opening with the same name as subject,
    and each holding a fact (a name, number, amount...; dates and times alone do not count:
    entries are often stamped with one) the other lacks ("Alice lives in Paris." / "Alice
    moved to Berlin."), or differing in a negation or another operator. The caller checks
    that the two are similar (``CONTRADICTION_SIMILARITY``) and in the same scope.
    """
    if len(a.split()) > _STATEMENT_WORDS or len(b.split()) > _STATEMENT_WORDS:
        return False
    subject = _subject(a)
    if subject is None or subject != _subject(b):
        return False
    ta = {f.text.lower() for f in facts.extract(a) if f.kind not in _WHEN_KINDS} - {subject}
    tb = {f.text.lower() for f in facts.extract(b) if f.kind not in _WHEN_KINDS} - {subject}
    if ta - tb and tb - ta:
        return True
    ops_a, ops_b = _spelled_out(a), _spelled_out(b)
    return bool(operators.missing(ops_a, ops_b) or operators.missing(ops_b, ops_a))


@dataclass(frozen=True)
class Version:
    """What ``newer_first`` needs of a ranked memory."""

    namespace: str
    content: str
    created_at: str


def newer_first(
    items: Sequence[Version], vectors: FloatMatrix, threshold: float = VERSION_SIMILARITY
) -> tuple[list[int], dict[int, int]]:
    """Reorder ranked items so that a newer correction comes before what it corrects.

    Two items are versions of one statement when they share a namespace (the caller puts the
    scope in it), their cosine (rows of ``vectors``, unit length) is at least ``threshold`` and
    ``is_version`` holds, or it is at least ``CONTRADICTION_SIMILARITY`` and ``contradicts``
    holds. Each group of
    versions moves to the rank of its best-ranked member, newest first (ties keep rank order);
    every other item keeps its place. Returns the new order as indices into ``items``, and for
    each older version the index of the newest version it differs from.
    """
    n = len(items)
    if n < 2:
        return list(range(n)), {}
    sims = vectors @ vectors.T
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    superseded: dict[int, int] = {}
    low = min(threshold, CONTRADICTION_SIMILARITY)
    rows, cols = np.nonzero(np.triu(sims >= low, 1))
    for i, j in zip(rows.tolist(), cols.tolist(), strict=True):
        a, b = items[i], items[j]
        if a.namespace != b.namespace:
            continue
        version = sims[i, j] >= threshold and is_version(a.content, b.content)
        if not version and not contradicts(a.content, b.content):
            continue
        parent[root(j)] = root(i)
        if a.created_at == b.created_at:
            continue
        old, new = (i, j) if a.created_at < b.created_at else (j, i)
        best = superseded.get(old)
        if best is None or items[new].created_at > items[best].created_at:
            superseded[old] = new
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(root(i), []).append(i)
    order: list[int] = []
    for i in range(n):
        members = groups.pop(root(i), None)
        if members is not None:
            # sorted() is stable with reverse=True: equal times keep their rank order.
            order.extend(sorted(members, key=lambda m: items[m].created_at, reverse=True))
    return order, superseded


def corrections_first(
    hits: list[SearchHit],
    created: Sequence[str],
    vectors: Sequence[npt.NDArray[np.float32] | None],
) -> list[SearchHit]:
    """A newer version of a statement ranks above the older one it corrects, which carries
    ``superseded_by`` (see :func:`newer_first`); both backends' searches call it.

    ``created`` and ``vectors`` line up with ``hits``; a hit without a vector of this model
    (embedded by another one) keeps its own place.
    """
    have = [i for i, v in enumerate(vectors) if v is not None]
    if len(have) < 2:
        return hits
    matrix = np.stack([v for v in vectors if v is not None]).astype(np.float32)
    # Versions and contradictions are only looked for within one scope of one namespace.
    items = [
        Version(
            "\x1f".join(
                [
                    hits[i].namespace,
                    hits[i].user_id or "",
                    hits[i].agent_id or "",
                    hits[i].run_id or "",
                ]
            ),
            hits[i].content,
            created[i],
        )
        for i in have
    ]
    order, superseded = newer_first(items, matrix)
    if not superseded and order == list(range(len(have))):
        return hits
    moved = [hits[have[i]] for i in order]
    for old, new in superseded.items():
        at = order.index(old)
        moved[at] = moved[at].model_copy(update={"superseded_by": hits[have[new]].id})
    out = list(hits)
    for slot, hit in zip(have, moved, strict=True):
        out[slot] = hit
    return out


# -- the steps after the candidate lists, as both backends' searches take them -------------------

Ranked = list[tuple[int, float]]
"""(pk, score), best first."""
VERSION_WINDOW = 10
"""Fused hits past the k-th that are still checked for being a newer version of a top-k hit:
two versions of one statement are near in both lists, so a few places cover them."""


def fuse(
    mode: str, dense: Ranked, lexical: Ranked, following: Mapping[int, int], settings: Any
) -> Ranked:
    """The mode's lists fused (``fused_relevance``) with the weights of ``settings`` (the memory
    settings); in hybrid mode the BM25 list lends to ``following`` when it is given."""
    lists = {"dense": [dense], "bm25": [lexical], "hybrid": [dense, lexical]}[mode]
    weights = {
        "dense": [1.0],
        "bm25": [1.0],
        "hybrid": [settings.dense_weight, settings.bm25_weight],
    }[mode]
    lends = mode == "hybrid" and bool(following)
    lending = [0.0, settings.neighbour_weight] if lends else [0.0] * len(lists)
    return fused_relevance(lists, weights, settings.rrf_k, following if lends else {}, lending)


def wants_coverage(model: str, mode: str, lexical: Ranked) -> bool:
    """Whether scoring needs the contents of the best BM25 hits (their first ``COVERAGE_OF``)."""
    calibration = CALIBRATIONS[mode]
    return model == CALIBRATED_MODEL and bool(lexical) and bool(calibration.gate_lexical)


def calibrated(
    fused: Ranked,
    model: str,
    mode: str,
    dense: Ranked,
    covered: float | None,
    min_score: float | None,
    default_min: float,
) -> tuple[Ranked, float]:
    """The fused scores as probabilities of relevance (for ``CALIBRATED_MODEL``; another model
    keeps the fused scores) and the floor under which hits are dropped: ``min_score``, else
    ``default_min`` when calibrated, else 0."""
    if model != CALIBRATED_MODEL:
        return fused, 0.0 if min_score is None else min_score
    calibration = CALIBRATIONS[mode]
    gate = calibration.answerable(dense[0][1] if dense else None, covered)
    scored = [(pk, calibration.relevance(gate, f)) for pk, f in fused]
    return scored, default_min if min_score is None else min_score


def decayed(scored: Ranked, born: Mapping[int, str], half_life_days: float) -> Ranked:
    """Scores decayed by age (``born``: when each memory last changed; others drop), re-sorted."""
    now = datetime.now(UTC)
    out = [
        (pk, decay(score, age_days(born[pk], now), half_life_days))
        for pk, score in scored
        if pk in born
    ]
    out.sort(key=lambda kv: -kv[1])
    return out


def shortlist(scored: Ranked, floor: float, k: int, max_tokens: int | None) -> Ranked:
    """Hits at or above ``floor``; without a budget only the top k, a few more in which a newer
    version of one of them may rank lower, and every hit tied with the last (recency breaks
    ties)."""
    scored = [(pk, score) for pk, score in scored if score >= floor]
    if max_tokens is None and len(scored) > k + VERSION_WINDOW:
        end = k + VERSION_WINDOW
        while end < len(scored) and scored[end][1] == scored[end - 1][1]:
            end += 1
        scored = scored[:end]
    return scored


def final_hits(
    scored: Ranked,
    rows: Mapping[int, R],
    parts: Callable[[R], tuple[str, FloatMatrix | None]],
    to_hit: Callable[[R, float, int | None, int | None], SearchHit],
    dense: Ranked,
    lexical: Ranked,
    k: int,
    max_tokens: int | None,
) -> list[SearchHit]:
    """The hits of the shortlisted memories found in ``rows`` (a memory deleted meanwhile drops
    out): equal scores newest first, newer versions above what they correct, then the top k or
    what fits ``max_tokens``. ``parts``: a row's time (``when``) and its vector of this
    model (None: embedded by another)."""
    dense_rank = {pk: i for i, (pk, _) in enumerate(dense, start=1)}
    bm25_rank = {pk: i for i, (pk, _) in enumerate(lexical, start=1)}
    ranked = [(pk, score) for pk, score in scored if pk in rows]
    found = {pk: parts(rows[pk]) for pk, _ in ranked}
    ranked = [
        ranked[i]
        for i in by_score_newest_first([s for _, s in ranked], [found[pk][0] for pk, _ in ranked])
    ]
    hits = corrections_first(
        [to_hit(rows[pk], score, dense_rank.get(pk), bm25_rank.get(pk)) for pk, score in ranked],
        [found[pk][0] for pk, _ in ranked],
        [found[pk][1] for pk, _ in ranked],
    )
    if max_tokens is None:
        return hits[:k]
    return [hits[i] for i in pack([h.tokens_compressed for h in hits], max_tokens, k)]


def when(row: Any) -> str:
    """When a memory (a row with ``created_at`` and ``updated_at``) last said what it says: an
    update makes it newer."""
    return str(row["updated_at"] or row["created_at"])
