"""Dataset building: cleaning with reasons, deterministic split, leakage, formats, bad lines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from compression_layer.errors import InputError
from compression_layer.training.data import (
    TrainPair,
    build_dataset,
    completion_only,
    read_inputs,
    split_pairs,
)

LONG = "The committee met on 4 May 2021 in Geneva and approved a budget of $3.2 million."


def chat(source: str, target: str) -> dict[str, Any]:
    return {
        "messages": [
            {"role": "system", "content": "sys"},
            {"role": "user", "content": f"Compress:\n{source}"},
            {"role": "assistant", "content": target},
        ]
    }


def write(path: Path, rows: list[Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [r if isinstance(r, str) else json.dumps(r) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def sample_rows(n: int) -> list[dict[str, Any]]:
    return [
        chat(f"Item {i}: {LONG}", f"#{i} mtg 4 May 2021 Geneva, budget $3.2M") for i in range(n)
    ]


def test_clean_drops_with_reasons(tmp_path: Path) -> None:
    rows = sample_rows(6)
    rows.append(chat("short text", "a much longer target than the input ever was"))  # not shorter
    rows.append(rows[0])  # duplicate input
    rows.append(chat("   ", "x"))  # empty after the prefix -> reported as a bad line by the reader
    write(tmp_path / "in" / "pairs.jsonl", rows)
    report = build_dataset(
        [tmp_path / "in"], tmp_path / "out", valid_fraction=0.0, test_fraction=0.0
    )
    assert report.read == 8
    assert report.dropped == {"duplicate_input": 1, "target_not_shorter": 1}
    assert report.kept == 6
    assert len(report.bad_lines) == 1 and ":9:" in report.bad_lines[0]
    train = (tmp_path / "out" / "train.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(train) == 6
    row = json.loads(train[0])
    roles = [m["role"] for m in row["messages"]]
    assert roles == ["system", "user", "assistant"]
    from compression_layer.compress.generative.prompt import SYSTEM_PROMPT

    assert row["messages"][0]["content"] == SYSTEM_PROMPT  # the engine's prompt, not the input's
    assert json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))["kept"] == 6


def test_broken_lines_reported_by_number_and_strict_refuses(tmp_path: Path) -> None:
    path = write(tmp_path / "pairs.jsonl", [*sample_rows(2), "{not json", {"messages": "nope"}])
    pairs, errors = read_inputs([path])
    assert len(pairs) == 2
    assert [e.split(": ")[0].rsplit(":", 1)[1] for e in errors] == ["3", "4"]
    with pytest.raises(InputError, match=r"pairs.jsonl:3"):
        build_dataset([path], tmp_path / "out", strict=True)


def test_split_is_deterministic_and_keeps_named_splits(tmp_path: Path) -> None:
    pairs = [TrainPair(f"text number {i} {LONG}", "t") for i in range(200)]
    a = split_pairs(pairs, 0.2, 0.1, seed=0, dropped=__import__("collections").Counter())
    b = split_pairs(
        list(reversed(pairs)), 0.2, 0.1, seed=0, dropped=__import__("collections").Counter()
    )
    assert {p.source for p in a["valid"]} == {p.source for p in b["valid"]}
    assert 20 < len(a["valid"]) < 60 and 5 < len(a["test"]) < 40
    named = [TrainPair(f"v{i} {LONG}", "t", split="valid") for i in range(40)]
    c = split_pairs(named, 0.2, 0.1, seed=0, dropped=__import__("collections").Counter())
    assert not c["train"] and c["valid"] and c["test"]  # test carved from the given valid


def test_leakage_between_splits_is_dropped(tmp_path: Path) -> None:
    write(tmp_path / "in" / "train.jsonl", sample_rows(4))
    # the same input (case and spacing differ) in valid: a leak, not a duplicate within a split
    leak = chat(f"ITEM 0:  {LONG}", "other target")
    write(tmp_path / "in" / "valid.jsonl", [leak, chat(f"Fresh {LONG}", "fresh 4 May 2021")])
    report = build_dataset([tmp_path / "in"], tmp_path / "out")
    assert report.dropped.get("duplicate_input", 0) + report.dropped.get("leakage", 0) == 1
    texts = (tmp_path / "out" / "valid.jsonl").read_text(encoding="utf-8")
    texts += (tmp_path / "out" / "test.jsonl").read_text(encoding="utf-8")
    assert "ITEM 0" not in texts and "Fresh" in texts


def test_missing_input_is_clear(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        read_inputs([tmp_path / "nope.jsonl"])


def test_completion_only_weights_and_tinker_rows(tmp_path: Path) -> None:
    pytest.importorskip("mlx_lm")
    from transformers import AutoTokenizer

    from tiny_qwen import build_tiny_qwen3

    model_dir = build_tiny_qwen3(tmp_path / "tiny")
    tok = AutoTokenizer.from_pretrained(str(model_dir))
    messages = chat("alpha beta", "gamma")["messages"]
    inputs, targets, weights = completion_only(tok, messages)
    assert inputs[1:] == targets[:-1] and len(weights) == len(targets)
    answer = [t for t, w in zip(targets, weights, strict=True) if w > 0]
    assert tok.decode(answer).startswith("gamma")  # loss on the reply (and its end-of-turn) only
    assert weights[0] == 0.0 and sum(weights) == len(answer)
    write(tmp_path / "in" / "pairs.jsonl", sample_rows(5))
    build_dataset(
        [tmp_path / "in"], tmp_path / "out", tokenizer=tok, valid_fraction=0, test_fraction=0
    )
    rows = (tmp_path / "out" / "tinker" / "train.jsonl").read_text(encoding="utf-8").splitlines()
    first = json.loads(rows[0])
    assert set(first) == {"input_tokens", "target_tokens", "weights"}


def test_extractive_rows_carry_labels(tmp_path: Path) -> None:
    write(tmp_path / "in" / "pairs.jsonl", sample_rows(3))
    build_dataset([tmp_path / "in"], tmp_path / "out", valid_fraction=0, test_fraction=0)
    row = json.loads(
        (tmp_path / "out" / "extractive" / "train.jsonl")
        .read_text(encoding="utf-8")
        .splitlines()[0]
    )
    assert len(row["units"]) == len(row["keep"]) and any(row["keep"]) and not all(row["keep"])
