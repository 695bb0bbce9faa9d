"""Evaluation core for prose compression, shared by ``compression-layer eval compress`` and bench.

Datasets: seed-pairs valid (prose rows, with the teacher's references), SQuAD contexts (articles
0-3 are the tuning split, 4-7 held out) and NQ-open gold passages. Metrics per method and rate:
o200k token reduction (aggregate), facts kept (:func:`facts.kept_ratio`, mean), answer retention
(every content word of some gold answer still in the output) and its strict form (the whole
normalised answer as one span). Methods share the same budgeted selection, so they are compared
at equal token reduction; only the word scores differ.
"""

from __future__ import annotations

import gzip
import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from compression_layer.compress.extractive.engine import ExtractiveEngine, Prepared, select
from compression_layer.compress.extractive.text import STOPWORDS, is_stopword, join_units
from compression_layer.tokens import count_tokens

_WORD_RE = re.compile(r"\w+")


@dataclass
class Item:
    """One context with the questions asked about it (none for seed pairs)."""

    context: str
    questions: list[tuple[str, list[str]]] = field(default_factory=list)
    reference: str | None = None


def load_squad(data: Path, articles: range) -> list[Item]:
    """SQuAD 2.0 paragraphs of the given articles; unanswerable questions are skipped."""
    raw = json.loads((data / "squad" / "squad_dev_part_a.json").read_text(encoding="utf-8"))
    items: list[Item] = []
    for a in articles:
        for para in raw["data"][a]["paragraphs"]:
            qs = [
                (qa["question"], sorted({x["text"] for x in qa["answers"]}))
                for qa in para["qas"]
                if qa["answers"]
            ]
            if qs:
                items.append(Item(para["context"], qs))
    return items


def load_nq(data: Path, limit: int | None = None) -> list[Item]:
    """NQ-open questions with their gold passage as the context."""
    items: list[Item] = []
    with gzip.open(
        data / "nq-open" / "nq_open_oracle_part_a.jsonl.gz", "rt", encoding="utf-8"
    ) as f:
        for line in f:
            row = json.loads(line)
            gold = next((c for c in row["ctxs"] if c.get("isgold")), None)
            if gold is None:
                continue
            items.append(Item(gold["text"], [(row["question"], list(row["answers"]))]))
            if limit is not None and len(items) >= limit:
                break
    return items


def load_seed_valid(data: Path) -> list[Item]:
    """Prose rows of seed-pairs valid, each with the teacher's compression as reference."""
    from compression_layer.training.labels import clean_pairs, read_pairs

    pairs, _ = clean_pairs(read_pairs(data / "seed-pairs" / "valid.jsonl"))
    return [Item(p.source, [], p.target) for p in pairs]


def content_words(text: str) -> list[str]:
    """Lower-cased words of ``text`` without punctuation and stopwords."""
    return [w for w in _WORD_RE.findall(text.lower()) if w not in STOPWORDS]


def answer_kept(answers: list[str], compressed: str) -> tuple[bool, bool]:
    """(all content words of some answer present, some whole normalised answer present)."""
    have = set(_WORD_RE.findall(compressed.lower()))
    flat = " " + " ".join(_WORD_RE.findall(compressed.lower())) + " "
    loose = strict = False
    for ans in answers:
        words = content_words(ans) or _WORD_RE.findall(ans.lower())
        loose |= all(w in have for w in words)
        norm = " ".join(_WORD_RE.findall(ans.lower()))
        strict |= bool(norm) and f" {norm} " in flat
    return loose, strict


Scorer = Callable[[Prepared, random.Random], npt.NDArray[np.float64]]


def _random_scores(p: Prepared, rng: random.Random) -> npt.NDArray[np.float64]:
    return np.array([rng.random() for _ in p.units])


def _stopword_scores(p: Prepared, rng: random.Random) -> npt.NDArray[np.float64]:
    # Content words first, then punctuation, then stopwords; random order inside each group.
    return np.array(
        [
            rng.random()
            + (2.0 if u.is_word and not is_stopword(u.text) else 0.0)
            + (1.0 if not u.is_word else 0.0)
            for u in p.units
        ]
    )


BASELINES: dict[str, Scorer] = {"random": _random_scores, "stopword": _stopword_scores}


def compress_with(
    engine: ExtractiveEngine,
    p: Prepared,
    method: str,
    rate: float,
    query: str | None,
    rng: random.Random,
) -> str:
    """Output of ``method`` on a prepared text at ``rate``.

    Baselines keep only layout (no fact protection) unless suffixed ``+facts``.
    """
    if method in ("extractive", "extractive+query"):
        return engine.finish(p, rate=rate, query=query if method.endswith("query") else None).text
    if method == "structural":
        return structural_prose(p.text)
    base, _, extra = method.partition("+")
    scores = BASELINES[base](p, rng)
    forced = p.forced if extra == "facts" else {i for i in p.forced if not p.units[i].is_word}
    budget = int(count_tokens(p.text) * rate)
    return join_units(p.units, select(scores, p.costs, forced, budget))


def structural_prose(text: str) -> str:
    """The structural engine on prose (whitespace only), or plain whitespace folding."""
    try:
        from compression_layer.compress.structural.dispatch import compress_structural
        from compression_layer.compress.types import Domain

        return str(compress_structural(text, Domain(kind="prose", confidence=1.0)).text)
    except ImportError:
        return re.sub(r"[ \t]+", " ", text).strip()


def evaluate(
    engine: ExtractiveEngine,
    items: list[Item],
    methods: list[str],
    rates: list[float],
    *,
    seed: int = 0,
) -> dict[str, dict[str, dict[str, float]]]:
    """Metrics of every method at every rate: ``{method: {rate: {metric: value}}}``."""
    from compression_layer.compress import facts, operators

    prepared = engine.prepare(
        [it.context for it in items], keep_vectors="extractive+query" in methods
    )
    tokens_in = [count_tokens(it.context) for it in items]
    results: dict[str, dict[str, dict[str, float]]] = {}
    for method in methods:
        per_rate: dict[str, dict[str, float]] = {}
        for rate in rates if method not in ("structural", "teacher") else [1.0]:
            rng = random.Random(seed)
            out_tokens = 0.0
            fact_scores: list[float] = []
            loose: list[bool] = []
            strict: list[bool] = []
            ops = [0.0, 0, 0.0, 0]  # operators kept, operators, negations kept, negations
            for it, p in zip(items, prepared, strict=True):
                per_query = method == "extractive+query"
                outs = (
                    [compress_with(engine, p, method, rate, q, rng) for q, _ in it.questions]
                    if per_query
                    else [_single(engine, it, p, method, rate, rng)]
                )
                out_tokens += sum(count_tokens(o) for o in outs) / len(outs)
                fact_scores.append(float(np.mean([facts.kept_ratio(it.context, o) for o in outs])))
                for o in outs:
                    kept = (
                        *operators.kept(it.context, o),
                        *operators.kept(it.context, o, _NEGATION),
                    )
                    for k in range(4):
                        ops[k] += kept[k] / len(outs)
                for k, (_, answers) in enumerate(it.questions):
                    lk, st = answer_kept(answers, outs[k if per_query else 0])
                    loose.append(lk)
                    strict.append(st)
            per_rate[f"{rate:.2f}"] = _summary(
                out_tokens, sum(tokens_in), fact_scores, loose, strict
            ) | _operator_summary(ops)
        results[method] = per_rate
    return results


_NEGATION = ("negation",)


def _operator_summary(ops: list[float]) -> dict[str, float]:
    out: dict[str, float] = {}
    if ops[1]:
        out["operators_kept"] = round(ops[0] / ops[1], 4)
    if ops[3]:
        out["negations_kept"] = round(ops[2] / ops[3], 4)
    return out


def _single(
    engine: ExtractiveEngine, it: Item, p: Prepared, method: str, rate: float, rng: random.Random
) -> str:
    if method == "teacher":
        return it.reference or it.context
    return compress_with(engine, p, method, rate, None, rng)


def _summary(
    out_tokens: float,
    in_tokens: int,
    fact_scores: list[float],
    loose: list[bool],
    strict: list[bool],
) -> dict[str, float]:
    summary: dict[str, Any] = {
        "token_reduction": round(1 - out_tokens / max(1, in_tokens), 4),
        "facts_kept": round(float(np.mean(fact_scores)), 4) if fact_scores else float("nan"),
    }
    if loose:
        summary["answer_retention"] = round(float(np.mean(loose)), 4)
        summary["answer_retention_strict"] = round(float(np.mean(strict)), 4)
        summary["questions"] = len(loose)
    return summary
