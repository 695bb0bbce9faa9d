"""Tune how ``query`` raises sentences, on the tuning split only (never on held-out rows).

    .venv/bin/python bench/extractive_query_tune.py                  # packaged weights
    .venv/bin/python bench/extractive_query_tune.py --try lead_weight=1.2,rank_boost=1 --try ...

Prepares every tuning context once (SQuAD articles 0-3, NQ rows 0-399, the multi-paragraph
contexts built from them as in ``bench/meaning.py``), then, per question, selects at rate 0.5
with and without the query boost of the given :class:`QueryWeights`. Reports per set: answers
kept with no query, with the query, and how many questions the query lost that no query kept
(the regression to drive to zero). ``--heldout`` measures the same on the held-out rows (to
report a setting already chosen, never to choose one). Prints one JSON line per set.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT / "bench"))


def weights_from(base: Any, overrides: str) -> Any:
    """``base`` query weights with ``name=value,name=value`` overrides."""
    pairs = [p.split("=", 1) for p in overrides.split(",") if p]
    return dataclasses.replace(base, **{k: float(v) for k, v in pairs})


def run_set(engine: Any, items: list[Any], tries: list[Any], rate: float) -> list[dict[str, Any]]:
    prepared = engine.prepare([it.context for it in items], keep_vectors=True)
    questions = [q for it in items for q, _ in it.questions]
    encoded = dict(zip(questions, engine.encode_queries(questions), strict=True))
    return [_one(items, prepared, encoded, weights, rate) for weights in tries]


def _one(items: list[Any], prepared: list[Any], encoded: Any, weights: Any, rate: float) -> Any:
    from compression_layer.compress.extractive.engine import select
    from compression_layer.compress.extractive.query import query_boost
    from compression_layer.compress.extractive.text import drop_orphan_marks, join_units
    from compression_layer.tokens import count_tokens
    from compression_layer.training.evaluate.compress import answer_kept

    plain_kept = query_kept = lost = gained = 0
    total = 0
    for it, p in zip(items, prepared, strict=True):
        budget = int(count_tokens(p.text) * rate)

        def out(scores: Any, p: Any = p, budget: int = budget) -> str:
            keep = select(scores, p.costs, p.forced, budget)
            drop_orphan_marks(p.units, keep)
            return join_units(p.units, keep)

        plain = out(p.logits)
        for question, golds in it.questions:
            boosted = p.logits + query_boost(p.units, p.vectors, encoded[question], weights)
            a = answer_kept(golds, plain)[0]
            b = answer_kept(golds, out(boosted))[0]
            total += 1
            plain_kept += a
            query_kept += b
            lost += a and not b
            gained += b and not a
    return {
        "questions": total,
        "no_query": round(plain_kept / max(1, total), 4),
        "query": round(query_kept / max(1, total), 4),
        "lost": lost,
        "gained": gained,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--try", dest="tries", action="append", default=[], help="a=1,b=2")
    parser.add_argument("--rate", type=float, default=0.5)
    parser.add_argument("--heldout", action="store_true")
    parser.add_argument("--sets", default="squad,nq,multi", help="comma-separated subset")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from compression_layer.compress.extractive.engine import ExtractiveEngine
    from compression_layer.training.evaluate import compress as ev
    from meaning import hotpot_style

    engine = ExtractiveEngine.load()
    if args.heldout:
        squad, nq = ev.load_squad(args.data, range(4, 8)), ev.load_nq(args.data)[400:]
    else:
        squad, nq = ev.load_squad(args.data, range(0, 4)), ev.load_nq(args.data)[:400]
    tries = args.tries or [""]
    weights = [weights_from(engine.query_weights(), t) for t in tries]
    split = "heldout" if args.heldout else "tuning"
    sets = {"squad": squad, "nq": nq, "multi": hotpot_style(squad, nq)}
    for name in args.sets.split(","):
        items = sets[name]
        started = time.perf_counter()
        rows = run_set(engine, items, weights, args.rate)
        seconds = round(time.perf_counter() - started, 1)
        for t, row in zip(tries, rows, strict=True):
            print(json.dumps({"split": split, "set": name, "try": t, **row, "s": seconds}))
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
