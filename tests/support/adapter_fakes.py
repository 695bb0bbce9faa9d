"""Adapter folders and a fake gate evaluator for registry, hot-swap and server tests."""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

from compression_layer.adapters.registry import AdapterRecord, AdapterRegistry
from compression_layer.training.gate import GateMetrics


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


def force_active(registry: AdapterRegistry, folder: Path, name: str) -> None:
    """Put an unvalidated adapter in the active pointer, as a hand edit of registry.json would."""
    state = registry.load()
    dest = registry.root / "generative" / name
    shutil.copytree(folder, dest)
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    state.adapters[name] = AdapterRecord.model_validate(
        {
            "name": name,
            "kind": "generative",
            "path": str(dest),
            "registered_at": datetime.now(UTC).isoformat(),
            "manifest": manifest,
        }
    )
    state.active["generative"] = name
    state.history["generative"].append(name)
    tmp = registry.root / "hand-edit.tmp"
    tmp.write_text(state.model_dump_json(), encoding="utf-8")
    os.replace(tmp, registry.registry_file)
