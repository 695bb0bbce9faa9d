"""Adapter folders, training rows and a fake gate evaluator for registry, hot-swap and server
tests."""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

from compression_layer.adapters.registry import AdapterRecord, AdapterRegistry, packaged_dir
from compression_layer.training.gate import GateMetrics

PLACES = ["harbour", "valley", "market", "castle", "forest", "bridge", "station"]
PEOPLE = ["Anna Berg", "Tomas Lind", "Sara Holm", "Erik Dahl", "Mia Strand"]


def pair_row(i: int) -> str:
    """One chat-format training pair (a prose source and a shorter target), numbered ``i``."""
    place, person = PLACES[i % len(PLACES)], PEOPLE[i % len(PEOPLE)]
    source = (
        f"In {1900 + i} the people of the {place} were told by {person} that the old road "
        f"would be closed for the whole of the winter, and they were also asked to use the "
        f"northern path instead, which was about {i + 3} kilometres longer than usual."
    )
    target = f"{1900 + i}: {person} → {place} road closed winter | use northern path (+{i + 3} km)"
    return json.dumps(
        {
            "messages": [
                {"role": "system", "content": "compress"},
                {"role": "user", "content": f"Compress:\n{source}"},
                {"role": "assistant", "content": target},
            ]
        }
    )


def write_pairs(folder: Path, train: int = 20, valid: int = 6) -> Path:
    """``train.jsonl`` / ``valid.jsonl`` of a few rows: enough for a tiny extractive run."""
    folder.mkdir(parents=True)
    rows = [pair_row(i) for i in range(train + valid)]
    (folder / "train.jsonl").write_text("\n".join(rows[:train]) + "\n", encoding="utf-8")
    (folder / "valid.jsonl").write_text("\n".join(rows[train:]) + "\n", encoding="utf-8")
    return folder


def packaged_copy(dest: Path) -> Path:
    """A registrable extractive adapter: the packaged folder copied to ``dest``."""
    folder = packaged_dir("extractive")
    assert folder is not None
    shutil.copytree(folder, dest)
    return dest


def make_adapter(
    folder: Path, *, rank: int = 4, kind: str = "generative", base: str = "tiny/base"
) -> Path:
    """A small but well-formed generative adapter folder (random LoRA tensors)."""
    folder.mkdir(parents=True)
    tensors = {
        "model.layers.1.self_attn.q_proj.lora_a": np.zeros((64, rank), np.float32),
        "model.layers.1.self_attn.q_proj.lora_b": np.zeros((rank, 64), np.float32),
    }
    save_file(tensors, str(folder / "adapters.safetensors"))
    config = {
        "fine_tune_type": "lora",
        "num_layers": 1,
        "lora_parameters": {"rank": rank, "scale": 20.0, "dropout": 0.0},
        "model": base,
    }
    (folder / "adapter_config.json").write_text(json.dumps(config), encoding="utf-8")
    manifest = {
        "kind": kind,
        "base_model": base,
        "data_hash": "sha256:abc",
        "metrics": {"token_reduction": 0.5},
        "created_at": "2025-01-01T00:00:00+00:00",
    }
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return folder


class FakeEvaluator:
    """Metrics per adapter name, and a log of which adapters were scored."""

    def __init__(self, table: dict[str, tuple[float, float, float]]) -> None:
        self.table = table
        self.calls: list[str] = []

    def __call__(self, record: AdapterRecord) -> GateMetrics:
        self.calls.append(record.name)
        red, facts, answers = self.table[record.name]
        return GateMetrics(
            token_reduction=red, fact_retention=facts, answer_retention=answers, evaluator="fake"
        )


def force_active(
    registry: AdapterRegistry, folder: Path, name: str, kind: str = "generative"
) -> None:
    """Put an unvalidated adapter in the active pointer, as a hand edit of registry.json would."""
    state = registry.load()
    dest = registry.root / kind / name
    shutil.copytree(folder, dest)
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    state.adapters[name] = AdapterRecord.model_validate(
        {
            "name": name,
            "kind": kind,
            "path": str(dest),
            "registered_at": datetime.now(UTC).isoformat(),
            "manifest": manifest,
        }
    )
    state.active[kind] = name
    state.history[kind].append(name)
    tmp = registry.root / "hand-edit.tmp"
    tmp.write_text(state.model_dump_json(), encoding="utf-8")
    os.replace(tmp, registry.registry_file)
