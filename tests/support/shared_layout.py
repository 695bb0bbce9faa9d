"""Write a small shared-data folder in the real layout (squad/, nq-open/, seed-pairs/)."""

from __future__ import annotations

import gzip
import json
from collections.abc import Sequence
from pathlib import Path


def write_shared(
    root: Path,
    context: str,
    *,
    squad_qa: tuple[str, str],
    nq_qa: tuple[str, str],
    nq_rows: int,
    seed_rows: Sequence[tuple[str, str]] = (),
) -> Path:
    """8 SQuAD articles and ``nq_rows`` NQ rows over ``context``; seed-pair valid rows if given."""
    question, answer = squad_qa
    articles = [
        {
            "title": f"a{i}",
            "paragraphs": [
                {
                    "context": f"Article {i}. {context}",
                    "qas": [{"question": question, "answers": [{"text": answer}]}],
                }
            ],
        }
        for i in range(8)
    ]
    (root / "squad").mkdir(parents=True)
    (root / "squad" / "squad_dev_part_a.json").write_text(
        json.dumps({"data": articles}), encoding="utf-8"
    )
    (root / "nq-open").mkdir()
    nq_question, nq_answer = nq_qa
    with gzip.open(
        root / "nq-open" / "nq_open_oracle_part_a.jsonl.gz", "wt", encoding="utf-8"
    ) as f:
        for i in range(nq_rows):
            ctx = {"text": f"Passage {i}: {context}", "isgold": True}
            row = {"question": nq_question, "answers": [nq_answer], "ctxs": [ctx]}
            f.write(json.dumps(row) + "\n")
    if seed_rows:
        (root / "seed-pairs").mkdir()
        rows = [
            {
                "messages": [
                    {"role": "system", "content": "compress"},
                    {"role": "user", "content": f"Compress:\n{source}"},
                    {"role": "assistant", "content": target},
                ]
            }
            for source, target in seed_rows
        ]
        (root / "seed-pairs" / "valid.jsonl").write_text(
            "\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8"
        )
    return root
