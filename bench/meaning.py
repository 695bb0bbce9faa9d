"""Benchmark of meaning: are negations and operators still there after compression?

    .venv/bin/python bench/meaning.py                 # the shipped engine, held-out sets
    .venv/bin/python bench/meaning.py --label before  # same, stored under another label

Runs ``compression_layer.compress()`` (``auto``, the default rate: what a user gets) on
held-out SQuAD paragraphs (articles 4-7), NQ-open gold passages (rows 400+), multi-paragraph
"HotpotQA-style" contexts built from those (:func:`hotpot_style`) and LoCoMo turns of the
conversations never used for tuning (conv-41, conv-42, conv-43), and reports per set: token
reduction (o200k), answer words kept (and the strict form: the whole answer as one span), facts
kept, operator occurrences kept, negations kept. ``--query`` also compresses each context once
per question with ``query=`` at rate 0.5 and, for the same questions, without it at rate 0.5.

``--wordlist`` also prints how the operator list was chosen: for each candidate word, how often
it occurs in the *tuning* splits and how often the teacher pairs (seed-pairs train) kept it.

Results go to ``bench/results/meaning.json`` under ``--label`` (default ``current``). Needs
``../shared/data``; exits with a message when it is absent.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "bench" / "results"
HELD_OUT_CONVERSATIONS = ("conv-41", "conv-42", "conv-43")
TUNING_CONVERSATIONS = ("conv-26", "conv-30")

# Candidates considered for the operator list, by class, with the words that were rejected.
CANDIDATES = {
    "negation": "not n't never no none nothing nobody nowhere neither nor without cannot",
    "modality": "may might must should could can would shall ought maybe perhaps probably "
    "possibly likely unlikely",
    "condition": "if unless except otherwise until whether",
    "comparison": "than only exactly approximately nearly almost least most",
    "rejected": "will very just all some every or but also really",
}


def locomo_turns(data: Path, conversations: tuple[str, ...]) -> list[str]:
    raw = json.loads((data / "locomo" / "locomo_part_a.json").read_text(encoding="utf-8"))
    turns: list[str] = []
    for conv in raw:
        if conv["sample_id"] not in conversations:
            continue
        sessions = conv["conversation"]
        for key in sorted(k for k in sessions if re.fullmatch(r"session_\d+", k)):
            turns.extend(f"{t['speaker']}: {t['text']}" for t in sessions[key])
    return turns


def hotpot_style(squad: list[Any], nq: list[Any]) -> list[Any]:
    """Multi-paragraph contexts from public data (no HotpotQA here), every question kept.

    Three consecutive SQuAD paragraphs of one article (related paragraphs, as HotpotQA's gold
    pair), and four NQ gold passages of consecutive rows (one topic each: the others act as
    HotpotQA's distractors), joined by blank lines. Built from the held-out rows only.
    """
    from compression_layer.training.evaluate.compress import Item

    def groups(items: list[Any], size: int) -> list[Any]:
        return [
            Item(
                "\n\n".join(i.context for i in items[b : b + size]),
                [q for i in items[b : b + size] for q in i.questions],
            )
            for b in range(0, len(items) - size + 1, size)
        ]

    return groups(squad, 3) + groups(nq, 4)


def measure_query(items: list[Any], rate: float = 0.5) -> dict[str, Any]:
    """Per question: compress(context, rate, query=question) against compress(context, rate)."""
    from compression_layer import compress
    from compression_layer.training.evaluate.compress import answer_kept

    with_q: list[bool] = []
    without: list[bool] = []
    tok_in = tok_q = tok_plain = 0
    times: list[float] = []
    for it in items:
        plain = compress(it.context, rate=rate)
        for question, golds in it.questions:
            started = time.perf_counter()
            asked = compress(it.context, rate=rate, query=question)
            times.append((time.perf_counter() - started) * 1000)
            tok_in += asked.tokens_original
            tok_q += asked.tokens_compressed
            tok_plain += plain.tokens_compressed
            with_q.append(answer_kept(golds, asked.compressed)[0])
            without.append(answer_kept(golds, plain.compressed)[0])
    return {
        "rate": rate,
        "questions": len(with_q),
        "token_reduction_query": round(1 - tok_q / max(1, tok_in), 4),
        "token_reduction_no_query": round(1 - tok_plain / max(1, tok_in), 4),
        "answers_kept_query": round(sum(with_q) / max(1, len(with_q)), 4),
        "answers_kept_no_query": round(sum(without) / max(1, len(without)), 4),
        "p50_ms_query": round(sorted(times)[len(times) // 2], 1) if times else None,
    }


def measure(items: list[tuple[str, list[list[str]]]]) -> dict[str, Any]:
    """Compress each context once through the pipeline; aggregate what survived."""
    from compression_layer import compress
    from compression_layer.compress import facts, operators
    from compression_layer.training.evaluate.compress import answer_kept

    tok_in = tok_out = 0
    ops_kept = ops_total = neg_kept = neg_total = 0
    answers: list[bool] = []
    strict: list[bool] = []
    fact_scores: list[float] = []
    lost_examples: list[dict[str, Any]] = []
    started = time.perf_counter()
    for index, (context, golds) in enumerate(items):
        result = compress(context)
        out = result.compressed
        tok_in += result.tokens_original
        tok_out += result.tokens_compressed
        fact_scores.append(facts.kept_ratio(context, out))
        kept, total = operators.kept(context, out)
        ops_kept, ops_total = ops_kept + kept, ops_total + total
        kept, total = operators.kept(context, out, ("negation",))
        neg_kept, neg_total = neg_kept + kept, neg_total + total
        if len(lost_examples) < 5 and (lost := operators.missing(context, out)):
            lost_examples.append({"item": index, "missing": lost})
        for g in golds:
            loose, whole = answer_kept(g, out)
            answers.append(loose)
            strict.append(whole)
    return {
        "items": len(items),
        "token_reduction": round(1 - tok_out / max(1, tok_in), 4),
        "answers_kept": round(sum(answers) / len(answers), 4) if answers else None,
        "answers_strict": round(sum(strict) / len(strict), 4) if strict else None,
        "questions": len(answers),
        "facts_kept": round(sum(fact_scores) / max(1, len(fact_scores)), 4),
        "operators_kept": round(ops_kept / ops_total, 4) if ops_total else None,
        "operators": ops_total,
        "negations_kept": round(neg_kept / neg_total, 4) if neg_total else None,
        "negations": neg_total,
        "seconds": round(time.perf_counter() - started, 1),
        "examples_lost": lost_examples,
    }


def wordlist(data: Path) -> list[dict[str, Any]]:
    """Frequency of each candidate on the tuning splits, and the teacher's keep rate."""
    from compression_layer.training.evaluate import compress as ev
    from compression_layer.training.labels import clean_pairs, read_pairs

    tuning = [it.context for it in ev.load_squad(data, range(0, 4))]
    tuning += [it.context for it in ev.load_nq(data)[:400]]
    tuning += locomo_turns(data, TUNING_CONVERSATIONS)
    pairs, _ = clean_pairs(read_pairs(data / "seed-pairs" / "train.jsonl"))

    def count(texts: list[str], word: str) -> int:
        pattern = r"\w+n['’]t\b" if word == "n't" else rf"(?<![\w'’]){re.escape(word)}(?![\w'’])"
        rx = re.compile(pattern, re.IGNORECASE)
        return sum(len(rx.findall(t)) for t in texts)

    words_total = sum(len(t.split()) for t in tuning)
    rows: list[dict[str, Any]] = []
    for kind, words in CANDIDATES.items():
        for word in words.split():
            in_src = count([p.source for p in pairs], word)
            in_tgt = count([p.target for p in pairs], word)
            rows.append(
                {
                    "class": kind,
                    "word": word,
                    "per_10k_words": round(count(tuning, word) * 10_000 / words_total, 1),
                    "teacher_kept": round(min(1.0, in_tgt / in_src), 3) if in_src else None,
                    "teacher_source_count": in_src,
                }
            )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--label", default="current")
    parser.add_argument("--limit", type=int, default=None, help="items per set (smoke runs)")
    parser.add_argument("--wordlist", action="store_true")
    parser.add_argument("--query", action="store_true", help="also measure query= at rate 0.5")
    args = parser.parse_args()
    if not args.data.is_dir():
        print(f"shared data not found at {args.data}: nothing to benchmark", file=sys.stderr)
        return 0
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from compression_layer.training.evaluate import compress as ev

    squad = ev.load_squad(args.data, range(4, 8))
    nq = ev.load_nq(args.data)[400:]
    qa_sets = {
        "squad-heldout (articles 4-7)": squad,
        "nq-heldout (rows 400+)": nq,
        "hotpot-style held-out (3 SQuAD paragraphs / 4 NQ passages)": hotpot_style(squad, nq),
    }
    sets = {
        **{
            name: [(it.context, [a for _, a in it.questions]) for it in items]
            for name, items in qa_sets.items()
        },
        "locomo-heldout turns (conv-41/42/43)": [
            (t, []) for t in locomo_turns(args.data, HELD_OUT_CONVERSATIONS)
        ],
    }
    path = RESULTS / "meaning.json"
    report: dict[str, Any] = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    runs = report.setdefault("runs", {})
    runs[args.label] = {name: measure(items[: args.limit]) for name, items in sets.items()}
    for name, row in runs[args.label].items():
        brief = {k: v for k, v in row.items() if k != "examples_lost"}
        print(f"{args.label} | {name} | {json.dumps(brief)}")
    if args.query:
        query_runs = report.setdefault("query_runs", {})
        query_runs[args.label] = {
            name: measure_query(items[: args.limit]) for name, items in qa_sets.items()
        }
        for name, row in query_runs[args.label].items():
            print(f"{args.label} | query | {name} | {json.dumps(row)}")
    if args.wordlist:
        report["wordlist"] = wordlist(args.data)
        for row in report["wordlist"]:
            print(row)
    RESULTS.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
