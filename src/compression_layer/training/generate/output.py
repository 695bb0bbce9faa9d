"""Files of a ``train generate`` run: accepted pairs, rejected pairs, and the run's metadata.

``<out>`` holds accepted pairs in the training chat format (``train dataset`` reads it as is) with
``id``, ``domain``, ``source``, ``teacher`` and ``scores`` alongside. ``<stem>.rejected.jsonl``
holds rejected pairs with their ``reasons``; their texts are under ``input`` / ``output`` rather
than ``messages``, so they are never mistaken for training rows. ``<stem>.meta.json`` records
the settings the pairs were made under: a rerun with the same ``--out`` resumes only under the
same settings. Rows hold texts and scores, never a key.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from compression_layer.errors import ConfigError
from compression_layer.training.data import PROMPT_PREFIX, system_prompt
from compression_layer.training.generate.chunks import Chunk


def rejected_path(out: Path) -> Path:
    """The sibling file of rejected pairs: ``pairs.jsonl`` -> ``pairs.rejected.jsonl``."""
    return out.with_name(f"{out.stem}.rejected.jsonl")


def meta_path(out: Path) -> Path:
    """The sibling metadata file: ``pairs.jsonl`` -> ``pairs.meta.json``."""
    return out.with_name(f"{out.stem}.meta.json")


def accepted_row(chunk: Chunk, output: str, teacher: str, scores: dict[str, Any]) -> dict[str, Any]:
    """A training row (system / ``Compress:`` user / assistant) plus provenance and scores."""
    return {
        "id": chunk.id,
        "messages": [
            {"role": "system", "content": system_prompt()},
            {"role": "user", "content": PROMPT_PREFIX + chunk.text},
            {"role": "assistant", "content": output},
        ],
        "domain": chunk.domain,
        "source": chunk.origin,
        "teacher": teacher,
        "scores": scores,
    }


def rejected_row(
    chunk: Chunk, output: str, teacher: str, reasons: list[str], scores: dict[str, Any]
) -> dict[str, Any]:
    """A rejected pair with the reasons it failed the acceptance rule."""
    return {
        "id": chunk.id,
        "domain": chunk.domain,
        "source": chunk.origin,
        "teacher": teacher,
        "reasons": reasons,
        "input": chunk.text,
        "output": output,
        "scores": scores,
    }


def repair_tail(path: Path) -> None:
    """Cut a last line left half-written by an interrupted run, so appends start on a new line."""
    if not path.is_file() or path.stat().st_size == 0:
        return
    data = path.read_bytes()
    if data.endswith(b"\n"):
        return
    with path.open("r+b") as fh:
        fh.truncate(data.rfind(b"\n") + 1)


def done_ids(*paths: Path) -> set[str]:
    """Chunk ids already written to any of ``paths`` (unreadable lines are ignored)."""
    ids: set[str] = set()
    for path in paths:
        if not path.is_file():
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(row, dict) and isinstance(row.get("id"), str):
                ids.add(row["id"])
    return ids


def check_meta(out: Path, expected: dict[str, Any]) -> dict[str, Any]:
    """The run metadata of ``out``: created from ``expected``, or checked against it on resume."""
    path = meta_path(out)
    if not path.is_file():
        if out.is_file() and out.stat().st_size:
            raise ConfigError(
                f"{out} exists but has no {path.name}: it was not written by train generate; "
                "choose another --out"
            )
        return {**expected, "runs": 0, "cost_usd_total": 0.0, "created_at": time.time()}
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc.msg}); fix or delete it") from None
    changed = [key for key, value in expected.items() if meta.get(key) != value]
    if changed:
        was = ", ".join(f"{key}={meta.get(key)!r} (now {expected[key]!r})" for key in changed)
        raise ConfigError(
            f"{out} was generated with other settings: {was}. Rerun with the same settings to "
            "resume, or choose another --out"
        )
    return dict(meta)


def write_meta(out: Path, meta: dict[str, Any]) -> None:
    """Write the metadata atomically (a crash leaves the old file, never half of a new one)."""
    path = meta_path(out)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)
