"""Training data for generative adapters: read pairs, clean, split, write the trainers' formats.

Input: chat-format JSONL (the seed pairs: ``system`` / ``user`` = ``"Compress:\\n<input>"`` /
``assistant``) or ``{"original", "compressed"}`` rows (``train generate`` output). Files named
``train``/``valid``/``test`` keep their split; other rows are split by a hash of their text, so a
row lands in the same split on every run and whatever else is added. Cleaning drops empty rows,
targets not shorter than their input (o200k tokens), repeated inputs, and eval rows whose input
is also in train (leakage); every drop is counted by reason in the :class:`DatasetReport`.

Outputs under one folder: ``train/valid/test.jsonl`` (mlx-lm's chat format, the generative
engine's system prompt), ``extractive/`` (prose rows with keep/drop labels for the extractive
trainer) and, given a tokenizer, ``tinker/`` (token ids with completion-only loss weights).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from compression_layer.errors import InputError

SPLITS = ("train", "valid", "test")
PROMPT_PREFIX = "Compress:\n"


@dataclass(frozen=True)
class TrainPair:
    """One pair: the input, its compression, the input's domain label, and where it came from."""

    source: str
    target: str
    domain: str = "prose"
    split: str | None = None
    origin: str = ""

    def key(self) -> str:
        """Normalised input (case and whitespace folded): what duplicates and leaks share."""
        return re.sub(r"\s+", " ", self.source).strip().lower()


class SplitStats(BaseModel):
    """Rows, domains and o200k token counts of one split."""

    rows: int = 0
    domains: dict[str, int] = Field(default_factory=dict)
    prompt_tokens: int = 0
    completion_tokens: int = 0


class DatasetReport(BaseModel):
    """What a dataset build read, dropped (by reason) and wrote."""

    read: int = 0
    kept: int = 0
    dropped: dict[str, int] = Field(default_factory=dict)
    bad_lines: list[str] = Field(default_factory=list)
    splits: dict[str, SplitStats] = Field(default_factory=dict)
    data_hash: str = ""
    files: dict[str, str] = Field(default_factory=dict)


def system_prompt() -> str:
    """The generative engine's system prompt (training and inference must match)."""
    from compression_layer.compress.generative.prompt import SYSTEM_PROMPT

    return SYSTEM_PROMPT


def parse_row(row: object) -> tuple[str, str]:
    """(input, compression) of a chat row or an ``{"original", "compressed"}`` row."""
    if not isinstance(row, dict):
        raise ValueError("expected a JSON object")
    if "messages" in row:
        messages = row["messages"]
        if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
            raise ValueError("messages must be a list of objects")
        turns = {m.get("role"): m.get("content") for m in messages}
        source, target = turns.get("user"), turns.get("assistant")
    else:
        source, target = row.get("original"), row.get("compressed")
    if not isinstance(source, str) or not isinstance(target, str):
        raise ValueError("needs a user and an assistant turn (or original and compressed)")
    source = source.removeprefix(PROMPT_PREFIX)
    if not source.strip() or not target.strip():
        raise ValueError("the input or the compression is empty")
    return source, target


def read_pairs_file(path: Path) -> tuple[list[TrainPair], list[str]]:
    """Pairs of one JSONL file and its broken lines as ``"<path>:<line>: <why>"``."""
    from compression_layer.compress.domain import detect

    split = path.stem if path.stem in SPLITS else None
    pairs: list[TrainPair] = []
    errors: list[str] = []
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                source, target = parse_row(json.loads(line))
            except ValueError as exc:  # JSONDecodeError is a ValueError
                errors.append(f"{path}:{number}: {str(exc).splitlines()[0]}")
                continue
            domain = detect(source).label()
            pairs.append(TrainPair(source, target, domain, split, f"{path}:{number}"))
    return pairs, errors


def read_inputs(inputs: Sequence[Path]) -> tuple[list[TrainPair], list[str]]:
    """Pairs from files and folders (every ``*.jsonl`` in a folder, sorted)."""
    pairs: list[TrainPair] = []
    errors: list[str] = []
    for item in inputs:
        if item.is_dir():
            files = sorted(item.glob("*.jsonl"))
        elif item.is_file():
            files = [item]
        else:
            raise InputError(f"no such file or folder: {item}")
        if not files:
            raise InputError(f"no *.jsonl files in {item}")
        for path in files:
            got, bad = read_pairs_file(path)
            pairs += got
            errors += bad
    return pairs, errors


def clean(pairs: Iterable[TrainPair], dropped: Counter[str]) -> list[TrainPair]:
    """Drop empty rows, targets not shorter than their input, and repeated inputs."""
    from compression_layer.tokens import count_tokens

    seen: set[str] = set()
    kept: list[TrainPair] = []
    for pair in pairs:
        if not pair.source.strip() or not pair.target.strip():
            dropped["empty"] += 1
        elif count_tokens(pair.target) >= count_tokens(pair.source):
            dropped["target_not_shorter"] += 1
        elif pair.key() in seen:
            dropped["duplicate_input"] += 1
        else:
            seen.add(pair.key())
            kept.append(pair)
    return kept


def _bucket(text: str, seed: int) -> float:
    digest = hashlib.sha256(f"{seed}\x00{text}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_pairs(
    pairs: Sequence[TrainPair],
    valid_fraction: float,
    test_fraction: float,
    seed: int,
    dropped: Counter[str],
) -> dict[str, list[TrainPair]]:
    """Deterministic split; given splits are kept, and a test split is carved from a given
    valid split when the input has none. Eval rows whose input is in train are dropped."""
    has_test = any(p.split == "test" for p in pairs)
    out: dict[str, list[TrainPair]] = {name: [] for name in SPLITS}
    for pair in pairs:
        b = _bucket(pair.key(), seed)
        if pair.split is None:
            name = "test" if b < test_fraction else "valid" if b < test_fraction + valid_fraction \
                else "train"  # fmt: skip
        elif pair.split == "valid" and not has_test:
            name = "test" if b < 0.5 else "valid"
        else:
            name = pair.split
        out[name].append(replace(pair, split=name))
    train_keys = {p.key() for p in out["train"]}
    for name in ("valid", "test"):
        before = len(out[name])
        out[name] = [p for p in out[name] if p.key() not in train_keys]
        dropped["leakage"] += before - len(out[name])
    return out


def chat_row(pair: TrainPair) -> dict[str, Any]:
    """mlx-lm chat format with the engine's prompt; ``domain`` rides along (mlx-lm ignores it)."""
    return {
        "messages": [
            {"role": "system", "content": system_prompt()},
            {"role": "user", "content": PROMPT_PREFIX + pair.source},
            {"role": "assistant", "content": pair.target},
        ],
        "domain": pair.domain,
    }


def _encode_chat(tokenizer: Any, messages: list[dict[str, str]], prompt_only: bool) -> list[int]:
    ids = tokenizer.apply_chat_template(
        messages[:-1] if prompt_only else messages,
        add_generation_prompt=prompt_only,
        tokenize=True,
        return_dict=False,
    )
    if isinstance(ids, dict) or hasattr(ids, "keys"):
        ids = ids["input_ids"]
    return [int(i) for i in ids]


def completion_only(
    tokenizer: Any, messages: list[dict[str, str]], max_length: int | None = None
) -> tuple[list[int], list[int], list[float]]:
    """(model input, target tokens, weights) for next-token training with loss on the reply only.

    The boundary is the longest common prefix of the templated prompt and the templated
    conversation, so templates that rewrite earlier turns (Qwen3's thinking tags) still work.
    """
    full = _encode_chat(tokenizer, messages, prompt_only=False)
    prompt = _encode_chat(tokenizer, messages, prompt_only=True)
    boundary = 0
    while boundary < min(len(full), len(prompt)) and full[boundary] == prompt[boundary]:
        boundary += 1
    if max_length is not None:
        full = full[: max_length + 1]
    inputs, targets = full[:-1], full[1:]
    # targets[i] is token i+1: it is part of the reply when i + 1 >= boundary.
    weights = [1.0 if i + 1 >= boundary else 0.0 for i in range(len(targets))]
    return inputs, targets, weights


def _write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def _extractive_rows(pairs: Sequence[TrainPair]) -> Iterable[dict[str, Any]]:
    """Prose rows in chat format with the aligned keep/drop labels (``training.labels``)."""
    from compression_layer.compress.extractive.text import split_units
    from compression_layer.training.labels import align

    for pair in pairs:
        if pair.domain != "prose":
            continue
        row = chat_row(pair)
        row["units"] = [u.text for u in split_units(pair.source)]
        row["keep"] = align(pair.source, pair.target)
        yield row


def build_dataset(
    inputs: Sequence[Path],
    out: Path,
    *,
    valid_fraction: float = 0.1,
    test_fraction: float = 0.05,
    seed: int = 0,
    tokenizer: Any = None,
    max_length: int | None = None,
    strict: bool = False,
) -> DatasetReport:
    """Read, clean, split and write every format; ``report.json`` is written beside them."""
    from compression_layer.tokens import count_tokens

    pairs, bad = read_inputs(inputs)
    if bad and strict:
        raise InputError("broken lines:\n" + "\n".join(bad))
    dropped: Counter[str] = Counter()
    splits = split_pairs(clean(pairs, dropped), valid_fraction, test_fraction, seed, dropped)
    report = DatasetReport(read=len(pairs), bad_lines=bad)
    for name, rows in splits.items():
        stats = SplitStats(rows=len(rows), domains=dict(Counter(p.domain for p in rows)))
        for pair in rows:
            stats.prompt_tokens += count_tokens(system_prompt() + PROMPT_PREFIX + pair.source)
            stats.completion_tokens += count_tokens(pair.target)
        report.splits[name] = stats
        _write_jsonl(out / f"{name}.jsonl", (chat_row(p) for p in rows))
        report.files[name] = str(out / f"{name}.jsonl")
        report.files[f"extractive/{name}"] = str(out / "extractive" / f"{name}.jsonl")
        _write_jsonl(out / "extractive" / f"{name}.jsonl", _extractive_rows(rows))
        if tokenizer is not None:
            report.files[f"tinker/{name}"] = str(out / "tinker" / f"{name}.jsonl")
            _write_jsonl(
                out / "tinker" / f"{name}.jsonl", _tinker_rows(tokenizer, rows, max_length)
            )
    report.kept = sum(len(rows) for rows in splits.values())
    report.dropped = {k: v for k, v in sorted(dropped.items()) if v}
    report.data_hash = dataset_hash(out)
    (out / "report.json").write_text(report.model_dump_json(indent=2) + "\n", encoding="utf-8")
    return report


def _tinker_rows(
    tokenizer: Any, rows: Sequence[TrainPair], max_length: int | None
) -> Iterable[dict[str, Any]]:
    for pair in rows:
        inputs, targets, weights = completion_only(
            tokenizer, chat_row(pair)["messages"], max_length
        )
        yield {"input_tokens": inputs, "target_tokens": targets, "weights": weights}


def dataset_hash(folder: Path) -> str:
    """sha256 over ``train/valid/test.jsonl`` of a dataset folder (the manifest's data hash)."""
    digest = hashlib.sha256()
    for name in SPLITS:
        path = folder / f"{name}.jsonl"
        if path.is_file():
            digest.update(path.read_bytes())
    return "sha256:" + digest.hexdigest()
