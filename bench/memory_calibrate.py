"""Fit the memory store's relevance calibration on LoCoMo dev conversations; check it held out.

A search score is P(a hit is relevant) = P(the store holds an answer to the query) x P(this hit is
one | it does). Two logistic models, per search mode, fitted on the dev conversations only
(``memory_locomo.DEV``):

- the *gate*, over the query's best cosine and the share of its words found in its best BM25
  hits (``ranking.coverage``) in the namespace: positives are
  dev questions asked in their own conversation, negatives the same questions asked in the other
  dev conversation (questions about other people, a natural "nothing here" case);
- the *rank* part (Platt scaling), over the normalised fused score of each candidate
  (``ranking.fused_relevance`` with the default settings, neighbours included): label 1 when the
  candidate is an evidence turn of the question.

Ranking inside a query is the fusion's (the gate is one number per query).
Reported: the fits (paste into ``memory/ranking.py``'s ``CALIBRATIONS``), predicted vs observed
relevance by bin on the held-out conversations, and per threshold the recall@10 kept and the
share of nonsense queries (random letters, word salad, off-topic questions) with any hit.

    nice -n 10 .venv/bin/python bench/memory_calibrate.py
"""

from __future__ import annotations

import itertools
import json
import random
import sqlite3
import string
import sys
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.linear_model import LogisticRegression

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compression_layer.memory.ranking import (
    CALIBRATIONS,
    COVERAGE_OF,
    coverage,
    fts_query,
    fused_relevance,
)
from compression_layer.settings import MemorySettings
from memory_locomo import DEV, load

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "memory_calibration.json"
DEPTH = 50
MODES = ("hybrid", "dense", "bm25")
Arr = npt.NDArray[np.float64]

OFF_TOPIC = [
    "What is the boiling point of tungsten?",
    "How many moons does Neptune have?",
    "Who negotiated the Treaty of Westphalia?",
    "What is the derivative of arctan x?",
    "Which enzyme breaks down lactose?",
    "What port does PostgreSQL listen on by default?",
    "How do I configure a Kubernetes ingress controller?",
    "What is the GDP of Luxembourg?",
    "When was the Suez Canal nationalised?",
    "Which compiler flag enables link time optimisation?",
    "What is the half-life of carbon-14?",
    "How tall is Mount Kilimanjaro?",
    "Who invented the Jacquard loom?",
    "What voltage does a USB-C port supply?",
    "What is the chemical formula of ammonium nitrate?",
    "Which river flows through Budapest?",
    "How does a Bloom filter work?",
    "What is the capital of Kyrgyzstan?",
    "Who discovered penicillin?",
    "What is the torque spec for a bicycle stem bolt?",
    "How many bytes are in an IPv6 address?",
    "What is the melting point of gallium?",
    "Which planet has the longest day?",
    "Explain the Krebs cycle.",
    "What does the HTTP 418 status code mean?",
    "What is the population of Reykjavik?",
    "How is a mortgage amortisation schedule computed?",
    "What is the refractive index of diamond?",
    "Who was the first emperor of the Ming dynasty?",
    "What is the airspeed of an unladen swallow?",
]
SALAD = [
    "carburetor",
    "tariff",
    "quantum",
    "lemma",
    "isotope",
    "gearbox",
    "sonnet",
    "fjord",
    "turbine",
    "ledger",
    "vinegar",
    "asteroid",
    "protocol",
    "glacier",
    "tungsten",
    "monsoon",
    "pulley",
    "cobalt",
    "referendum",
    "hexagon",
]


def nonsense_queries(seed: int = 7) -> dict[str, list[str]]:
    """Queries no LoCoMo conversation answers: random letters, word salad, off-topic questions."""
    rng = random.Random(seed)
    letters = [
        " ".join(
            "".join(rng.choices(string.ascii_lowercase, k=rng.randint(4, 9)))
            for _ in range(rng.randint(2, 5))
        )
        for _ in range(60)
    ]
    salad = [" ".join(rng.sample(SALAD, rng.randint(3, 6))) for _ in range(60)]
    return {"letters": letters, "salad": salad, "off_topic": list(OFF_TOPIC)}


class Corpus:
    """LoCoMo turns in an FTS5 table laid out like the store's, with MiniLM vectors."""

    def __init__(self, turns: dict[str, list[dict[str, Any]]]) -> None:
        from compression_layer.embeddings import embed

        self.con = sqlite3.connect(":memory:")
        self.con.execute(
            "CREATE VIRTUAL TABLE f USING fts5(content, tags, ns_token, "
            "tokenize='porter unicode61')"
        )
        self.dia: list[str] = []
        self.pks: dict[str, npt.NDArray[np.int64]] = {}
        texts = []
        for cid, items in turns.items():
            start = len(texts)
            for it in items:
                texts.append(it["content"])
                self.dia.append(it["metadata"]["dia_id"])
                self.con.execute(
                    "INSERT INTO f (rowid, content, tags, ns_token) VALUES (?, ?, '[]', ?)",
                    (len(texts), it["content"], self.token(cid)),
                )
            self.pks[cid] = np.arange(start + 1, len(texts) + 1)
        self.texts = texts
        self.embed = embed
        self.matrix = embed(texts, batch_size=64)

    def following(self, cid: str) -> dict[int, int]:
        pks = self.pks[cid].tolist()
        return dict(itertools.pairwise(pks))

    @staticmethod
    def token(cid: str) -> str:
        return "n" + cid.encode("utf-8").hex()

    def lists(
        self, query: str, qvec: npt.NDArray[np.float32], cid: str
    ) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
        """The dense and BM25 candidate lists of the store's search: (pk, cosine | bm25)."""
        pks = self.pks[cid]
        cos = self.matrix[pks - 1] @ qvec
        order = np.argsort(-cos, kind="stable")[:DEPTH]
        dense = [(int(pks[i]), float(cos[i])) for i in order]
        match = fts_query(query)
        lexical: list[tuple[int, float]] = []
        if match:
            rows = self.con.execute(
                "SELECT rowid, bm25(f, 1.0, 0.5, 0.0) AS s FROM f WHERE f MATCH ? "
                "ORDER BY s LIMIT ?",
                (f'ns_token : "{self.token(cid)}" AND ({match})', DEPTH),
            )
            lexical = [(int(pk), -float(s)) for pk, s in rows]
        return dense, lexical


def fused(
    corpus: Corpus,
    cid: str,
    dense: list[tuple[int, float]],
    lexical: list[tuple[int, float]],
    mode: str,
) -> list[tuple[int, float]]:
    """The store's fused scores for ``mode`` (``ranking.fused_relevance``, default settings,
    in hybrid mode each BM25 hit lending to the next turn of its conversation)."""
    lists = {"dense": [dense], "bm25": [lexical], "hybrid": [dense, lexical]}[mode]
    following = corpus.following(cid) if mode == "hybrid" else {}
    settings = MemorySettings()
    weights = [settings.dense_weight, settings.bm25_weight] if mode == "hybrid" else [1.0]
    lending = [0.0, settings.neighbour_weight] if mode == "hybrid" else [0.0]
    return fused_relevance(lists, weights, settings.rrf_k, following, lending)


def gate_features(
    corpus: Corpus, query: str, dense: list[tuple[int, float]], lexical: list[tuple[int, float]]
) -> list[float]:
    """The query's best cosine and ``coverage`` by its best BM25 hits, as the search has them."""
    best = [corpus.texts[pk - 1] for pk, _ in lexical[:COVERAGE_OF]]
    return [dense[0][1] if dense else 0.0, coverage(query, best) if best else 0.0]


def gate_x(feats: Arr, mode: str) -> Arr:
    cols = {"hybrid": [0, 1], "dense": [0], "bm25": [1]}[mode]
    return feats[:, cols]


def main() -> None:
    turns, questions = load()
    corpus = Corpus(turns)
    convs = list(turns)
    qvecs = corpus.embed([q["q"] for q in questions], batch_size=64)
    nonsense = nonsense_queries()
    # Candidate rows per mode: question, fused score, evidence label, dev flag.
    cand: dict[str, list[tuple[int, float, int, int]]] = {m: [] for m in MODES}
    # Gate rows: gate features, label (own conversation), dev flag (question and namespace).
    gate_rows: list[tuple[float, float, int, int]] = []
    for qi, (q, qv) in enumerate(zip(questions, qvecs, strict=True)):
        for cid in convs:
            dense, lexical = corpus.lists(q["q"], qv, cid)
            both_dev = int(cid in DEV and q["conv"] in DEV)
            gate_rows.append(
                (*gate_features(corpus, q["q"], dense, lexical), int(cid == q["conv"]), both_dev)
            )
            if cid != q["conv"]:
                continue
            for mode in MODES:
                for pk, f in fused(corpus, cid, dense, lexical, mode):
                    label = int(corpus.dia[pk - 1] in q["evidence"])
                    cand[mode].append((qi, f, label, int(q["conv"] in DEV)))
    cs = {m: np.asarray(rows, dtype=np.float64) for m, rows in cand.items()}
    g = np.asarray(gate_rows, dtype=np.float64)
    nonsense_feats: dict[str, Arr] = {}
    for kind, texts in nonsense.items():
        vecs = corpus.embed(texts)
        rows = [
            gate_features(corpus, t, *corpus.lists(t, v, convs[i % len(convs)]))
            for i, (t, v) in enumerate(zip(texts, vecs, strict=True))
        ]
        nonsense_feats[kind] = np.asarray(rows, dtype=np.float64)
    report: dict[str, Any] = {
        "data": "locomo_part_a.json",
        "dev_conversations": list(DEV),
        "candidates": {m: len(c) for m, c in cs.items()},
        "command": "nice -n 10 .venv/bin/python bench/memory_calibrate.py",
        "modes": {},
    }
    for mode in MODES:
        qi, f, y, dev = cs[mode].T
        gx, gy, gdev = gate_x(g[:, :2], mode), g[:, 2], g[:, 3] == 1
        gate = LogisticRegression(C=10.0, max_iter=1000).fit(gx[gdev], gy[gdev])
        keep = f > 0
        train = keep & (dev == 1)
        rank = LogisticRegression(C=100.0, max_iter=1000).fit(f[train, None], y[train])
        fit = {
            "gate_bias": round(float(gate.intercept_[0]), 3),
            "gate_weights": [round(float(w), 3) for w in gate.coef_[0]],
            "rank_bias": round(float(rank.intercept_[0]), 3),
            "rank_slope": round(float(rank.coef_[0][0]), 3),
        }
        report["modes"][mode] = {
            "fit": fit,
            **evaluate(mode, cs[mode], g, nonsense_feats, rank, gate),
        }
        print(mode, json.dumps(report["modes"][mode]["fit"]))
    report["in_use"] = {m: vars(cal) for m, cal in CALIBRATIONS.items()}
    OUT.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report, indent=2))


def evaluate(
    mode: str,
    c: Arr,
    g: Arr,
    nonsense: dict[str, Arr],
    rank: LogisticRegression,
    gate: LogisticRegression,
) -> dict[str, Any]:
    """Held-out calibration by bin, and recall@10 kept / nonsense any-hit share per threshold."""
    qi, f, y, dev = c.T
    own = g[:, 2] == 1
    gate_own = gate.predict_proba(gate_x(g[own, :2], mode))[:, 1]  # one per question, in order
    score = gate_own[qi.astype(int)] * rank.predict_proba(f[:, None])[:, 1]
    score = np.where(f > 0, score, 0.0)
    test = (dev == 0) & (f > 0)
    edges = [0.005, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5]
    bins = np.digitize(score[test], edges)
    table = []
    for b in range(len(edges) + 1):
        s = bins == b
        if s.any():
            table.append(
                {
                    "from": ([0.0, *edges])[b],
                    "n": int(s.sum()),
                    "predicted": round(float(score[test][s].mean()), 4),
                    "observed": round(float(y[test][s].mean()), 4),
                }
            )
    # The best a nonsense query can score: first in every list (normalised fused score 1).
    top = float(rank.predict_proba(np.asarray([[1.0]]))[0, 1])
    other = g[(g[:, 2] == 0)]
    thresholds = []
    nq = int(qi.max()) + 1
    qdev = np.zeros(nq, dtype=bool)
    qdev[qi.astype(int)] = dev == 1
    starts = np.r_[0, np.flatnonzero(np.diff(qi)) + 1, len(qi)]
    for t in (0.0, 0.002, 0.005, 0.01, 0.02, 0.05):
        hit = np.zeros(nq, dtype=bool)
        for s, e in itertools.pairwise(starts):
            order = s + np.argsort(-score[s:e], kind="stable")[:10]
            hit[int(qi[s])] = bool(y[order[score[order] >= max(t, 1e-12)]].any())
        row: dict[str, Any] = {
            "min_score": t,
            "recall@10_dev": round(float(hit[qdev].mean()), 4),
            "recall@10_test": round(float(hit[~qdev].mean()), 4),
            "other_conversation_any_hit": round(
                float((gate.predict_proba(gate_x(other[:, :2], mode))[:, 1] * top >= t).mean()), 3
            ),
        }
        for kind, feats in nonsense.items():
            p = gate.predict_proba(gate_x(feats, mode))[:, 1] * top
            row[f"{kind}_any_hit"] = round(float((p >= t).mean()), 3)
        thresholds.append(row)
    return {"held_out_bins": table, "thresholds": thresholds}


if __name__ == "__main__":
    main()
