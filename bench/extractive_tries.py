"""Each scorer change tried for the prose engine, measured on the tuning split and held out.

    .venv/bin/python bench/extractive_tries.py              # every try except encoder depth
    .venv/bin/python bench/extractive_tries.py --depth 4,6  # also heads on deeper encoders

Choices are made on the tuning split only (SQuAD articles 0-3, NQ rows 0-399, multi-paragraph
contexts built from them as in ``bench/meaning.py``); the held-out columns (SQuAD 4-7, NQ 400+)
are measured once per try and never used to choose. Every try runs the engine's own selection
(forced facts, operators and layout; the o200k budget at the default rate, 0.49) and only
changes the word scores; "long" is answers of three or more content words (SQuAD and NQ).

Tries (the shipped engine is ``coherence``):

- ``head``: the packaged head with content bias and repeat penalty (the engine before coherence);
- ``coherence`` / ``coherence-sentence``: a word's score moves toward the mean of its neighbours
  (one on each side) / of its sentence;
- ``answer-head``: a second head on the same inputs, trained on answer spans of the tuning
  questions (SQuAD's five per paragraph, NQ's one), added with weight 0.5; tuning numbers by
  4-fold cross-validation (SQuAD article / NQ block), held-out by a head trained on all of it;
- ``masked-forced`` / ``content-only``: the teacher head retrained with the loss on units the
  engine does not force / on unforced content words only (where the budget is decided);
- ``rarity``: a prior for rare words (log rank of the word's last o200k token);
- ``name-neighbours``: +0.5 for a content word next to a forced name or number;
- ``depth-N`` (``--depth``): the head retrained on an N-layer int8 encoder.

Needs ``../shared/data``; writes ``bench/results/extractive-tries.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "bench" / "results"
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from compression_layer.compress.extractive.engine import (  # noqa: E402
    ExtractiveEngine,
    Prepared,
    content_mask,
    forced_units,
    select,
    word_scores,
)
from compression_layer.compress.extractive.head import head_inputs, unit_vectors  # noqa: E402
from compression_layer.compress.extractive.text import (  # noqa: E402
    Unit,
    drop_orphan_marks,
    join_units,
    sentence_ids,
    units_in_spans,
)
from compression_layer.tokens import count_tokens, encoding  # noqa: E402
from compression_layer.training.evaluate import compress as ev  # noqa: E402
from compression_layer.training.extractive import TrainOptions, train_head  # noqa: E402
from compression_layer.training.labels import clean_pairs, read_pairs, units_and_labels  # noqa: E402

RATE = 0.49
BIAS = REPEAT = 4.0


@dataclass
class Doc:
    """One context: its prepared selection inputs, head inputs and the questions asked of it."""

    prepared: Prepared
    inputs: torch.Tensor
    questions: list[list[str]]
    answers: torch.Tensor  # 1.0 for units inside a gold answer span


def answer_mask(text: str, units: list[Unit], answers: list[str]) -> torch.Tensor:
    low = text.lower()
    spans = sorted(
        (m.start(), m.end())
        for a in answers
        if a.strip()
        for m in re.finditer(r"(?<!\w)" + re.escape(a.strip().lower()) + r"(?!\w)", low)
    )
    mask = torch.zeros(len(units))
    for i in units_in_spans(units, spans):
        mask[i] = 1.0
    return mask


def load_docs(engine: ExtractiveEngine, items: list[Any], encoder: Any = None) -> list[Doc]:
    adapter = engine.adapter
    prepared = engine.prepare([it.context for it in items])
    docs = [p.units for p in prepared]
    vectors: list[torch.Tensor] = []
    for b in range(0, len(docs), 16):
        if encoder is None:
            vectors += adapter.unit_vectors(docs[b : b + 16])
        else:
            vectors += unit_vectors(adapter.tokenizer, encoder, docs[b : b + 16], window=256)
    return [
        Doc(
            p,
            head_inputs(v, p.units),
            [golds for _, golds in it.questions],
            answer_mask(it.context, p.units, [a for _, g in it.questions for a in g]),
        )
        for it, p, v in zip(items, prepared, vectors, strict=True)
    ]


def measure(docs: list[Doc], scores: list[np.ndarray[Any, Any]]) -> dict[str, Any]:
    kept: list[bool] = []
    long: list[bool] = []
    tin = tout = 0
    for doc, s in zip(docs, scores, strict=True):
        p = doc.prepared
        original = count_tokens(p.text)
        keep = select(s, p.costs, p.forced, math.floor(original * RATE))
        drop_orphan_marks(p.units, keep)
        out = join_units(p.units, keep)
        tin += original
        tout += count_tokens(out)
        for golds in doc.questions:
            ok = ev.answer_kept(golds, out)[0]
            kept.append(ok)
            if min(len(ev.content_words(a) or [a]) for a in golds) >= 3:
                long.append(ok)
    return {
        "fewer_tokens": round(1 - tout / max(1, tin), 4),
        "answers_kept": round(float(np.mean(kept)), 4) if kept else None,
        "long": [len(long), round(float(np.mean(long)), 4) if long else None],
    }


Scores = Callable[[Doc, np.ndarray[Any, Any]], np.ndarray[Any, Any]]


def generic(doc: Doc, raw: np.ndarray[Any, Any], coherence: float = 0.0) -> Any:
    return word_scores(
        raw, doc.prepared.units, content_bias=BIAS, repeat_penalty=REPEAT, coherence=coherence
    )


def sentence_coherence(doc: Doc, raw: np.ndarray[Any, Any]) -> Any:
    units = doc.prepared.units
    own = word_scores(raw, units, content_bias=0.0, repeat_penalty=REPEAT)
    sids = np.asarray(sentence_ids(units))
    means = np.bincount(sids, weights=own) / np.maximum(1, np.bincount(sids))
    return own + 0.25 * means[sids] + BIAS * content_mask(units)


def rarity(doc: Doc, raw: np.ndarray[Any, Any]) -> Any:
    enc = encoding()
    units = doc.prepared.units
    prior = np.array(
        [
            math.log(max(enc.encode_ordinary(" " + u.text.lower())) + 1) / math.log(200_000)
            if u.is_word
            else 0.0
            for u in units
        ]
    )
    return generic(doc, raw, 0.25) + 1.0 * prior * content_mask(units)


def name_neighbours(doc: Doc, raw: np.ndarray[Any, Any]) -> Any:
    p = doc.prepared
    forced_word = np.array([i in p.forced and u.is_word for i, u in enumerate(p.units)])
    near = np.zeros(len(p.units))
    near[1:] += forced_word[:-1]
    near[:-1] += forced_word[1:]
    free = np.array([i not in p.forced for i in range(len(p.units))])
    return generic(doc, raw, 0.25) + 0.5 * np.minimum(near, 1) * content_mask(p.units) * free


def head_raw(head: Any, docs: list[Doc]) -> list[np.ndarray[Any, Any]]:
    with torch.inference_mode():
        return [head(d.inputs).double().numpy() for d in docs]


def seed_training(
    engine: ExtractiveEngine, encoder: Any = None
) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
    """Teacher-labelled head inputs of seed-pairs train and, per unit, the masks of the tries."""
    pairs, _ = clean_pairs(read_pairs(DATA / "seed-pairs" / "train.jsonl"))
    adapter = engine.adapter
    xs, ys, unforced, free_content = [], [], [], []
    for b in range(0, len(pairs), 16):
        chunk = pairs[b : b + 16]
        labelled = [units_and_labels(p) for p in chunk]
        docs = [u for u, _ in labelled]
        if encoder is None:
            vecs = adapter.unit_vectors(docs)
        else:
            vecs = unit_vectors(adapter.tokenizer, encoder, docs, window=256)
        for pair, (units, labels), vec in zip(chunk, labelled, vecs, strict=True):
            if not units:
                continue
            xs.append(head_inputs(vec, units))
            ys.append(torch.tensor(labels, dtype=torch.float32))
            forced = forced_units(pair.source, units)
            unforced.append(torch.tensor([i not in forced for i in range(len(units))]).float())
            free_content.append(unforced[-1] * torch.from_numpy(content_mask(units)).float())
    return torch.cat(xs), torch.cat(ys), [torch.cat(unforced), torch.cat(free_content)]


def train_weighted(x: torch.Tensor, y: torch.Tensor, weight: torch.Tensor | None) -> Any:
    """The shipped recipe (AdamW, one-cycle, 12 epochs) with an optional per-unit loss weight."""
    if weight is None:
        return train_head(x, y, TrainOptions())
    keep = weight > 0
    return train_head(x[keep], y[keep], TrainOptions())


def folds_of() -> list[list[tuple[str, int]]]:
    """Four folds over the tuning SQuAD and NQ docs: one SQuAD article and one NQ block each."""
    bounds = np.cumsum([0, 39, 48, 44, 46])
    out: list[list[tuple[str, int]]] = []
    for f in range(4):
        squad = [("squad", i) for i in range(int(bounds[f]), int(bounds[f + 1]))]
        nq = [("nq", i) for i in range(100 * f, 100 * (f + 1))]
        out.append(squad + nq)
    return out


def answer_head_tries(
    tuning: dict[str, list[Doc]], heldout: dict[str, list[Doc]], base: Any, weight: float = 0.5
) -> dict[str, Any]:
    def scores(docs: list[Doc], head: Any) -> list[Any]:
        return [
            generic(d, b + weight * a, 0.25)
            for d, b, a in zip(docs, head_raw(base, docs), head_raw(head, docs), strict=True)
        ]

    def fit(docs: list[Doc]) -> Any:
        x = torch.cat([d.inputs for d in docs])
        y = torch.cat([d.answers for d in docs])
        return train_head(x, y, TrainOptions(epochs=15))

    folds = folds_of()
    cv: dict[str, list[Doc]] = {"squad": [], "nq": []}
    cv_scores: dict[str, list[Any]] = {"squad": [], "nq": []}
    keys = [(s, i) for s in ("squad", "nq") for i in range(len(tuning[s]))]
    for fold in folds:
        held = set(fold)
        train = [tuning[s][i] for s, i in keys if (s, i) not in held]
        head = fit(train)
        for s in ("squad", "nq"):
            docs = [tuning[s][i] for (name, i) in fold if name == s]
            cv[s] += docs
            cv_scores[s] += scores(docs, head)
    head = fit(tuning["squad"] + tuning["nq"])
    return {
        "tuning": {s: measure(cv[s], cv_scores[s]) for s in cv},
        "heldout": {s: measure(docs, scores(docs, head)) for s, docs in heldout.items()},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--depth", default="", help="comma-separated encoder depths to try")
    args = parser.parse_args()
    if not args.data.is_dir():
        print(f"shared data not found at {args.data}: nothing to measure", file=sys.stderr)
        return 0
    from meaning import hotpot_style

    torch.set_num_threads(2)
    started = time.perf_counter()
    engine = ExtractiveEngine.load()
    base = engine.adapter.head

    def sets_of(squad: list[Any], nq: list[Any], encoder: Any = None) -> dict[str, list[Doc]]:
        return {
            "squad": load_docs(engine, squad, encoder),
            "nq": load_docs(engine, nq, encoder),
            "multi": load_docs(engine, hotpot_style(squad, nq), encoder),
        }

    splits = {
        "tuning": (ev.load_squad(args.data, range(0, 4)), ev.load_nq(args.data)[:400]),
        "heldout": (ev.load_squad(args.data, range(4, 8)), ev.load_nq(args.data)[400:]),
    }
    loaded = {name: sets_of(*items) for name, items in splits.items()}
    results: dict[str, Any] = {}

    def record(name: str, per_split: dict[str, Any]) -> None:
        results[name] = per_split
        for split, row in per_split.items():
            print(f"{name:18} {split:8} {json.dumps(row)}", flush=True)

    def fixed(fn: Callable[..., Any], head: Any = base) -> dict[str, Any]:
        return {
            split: {
                s: measure(
                    docs, [fn(d, r) for d, r in zip(docs, head_raw(head, docs), strict=True)]
                )
                for s, docs in sets.items()
            }
            for split, sets in loaded.items()
        }

    record("head", fixed(generic))
    record("coherence", fixed(lambda d, r: generic(d, r, 0.25)))
    record("coherence-sentence", fixed(sentence_coherence))
    record("rarity", fixed(rarity))
    record("name-neighbours", fixed(name_neighbours))
    record("answer-head", answer_head_tries(loaded["tuning"], loaded["heldout"], base))
    x, y, (unforced, free_content) = seed_training(engine)
    for name, weight in (("masked-forced", unforced), ("content-only", free_content)):
        record(name, fixed(lambda d, r: generic(d, r, 0.25), train_weighted(x, y, weight)))
    for depth in [int(v) for v in args.depth.split(",") if v]:
        from compression_layer.minilm import build_encoder

        encoder = build_encoder(depth, "int8", "onnx")
        dx, dy, _ = seed_training(engine, encoder)
        head = train_head(dx, dy, TrainOptions(layers=depth))
        deep = {name: sets_of(*items, encoder) for name, items in splits.items()}
        record(
            f"depth-{depth}",
            {
                split: {
                    s: measure(
                        docs,
                        [
                            generic(d, r, 0.25)
                            for d, r in zip(docs, head_raw(head, docs), strict=True)
                        ],
                    )
                    for s, docs in sets.items()
                }
                for split, sets in deep.items()
            },
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "extractive-tries.json"
    path.write_text(
        json.dumps(
            {
                "rate": RATE,
                "chosen_on": "tuning",
                "seconds": round(time.perf_counter() - started, 1),
                "tries": results,
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
