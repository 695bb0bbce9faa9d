"""A tiny real training run: a few epochs on ~20 rows write a loadable adapter folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapter_fakes import write_pairs
from compression_layer.adapters.check import validate_folder
from compression_layer.adapters.manifest import read_manifest
from compression_layer.adapters.registry import AdapterRegistry
from compression_layer.cli.train import app
from compression_layer.compress.extractive.engine import ExtractiveEngine
from compression_layer.errors import InputError
from compression_layer.training.extractive import TrainOptions, train_extractive


@pytest.fixture
def tiny_data(tmp_path: Path) -> Path:
    return write_pairs(tmp_path / "pairs")


def test_tiny_training_writes_a_valid_adapter(tiny_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "adapter"
    opts = TrainOptions(layers=1, epochs=3, batch_units=64)
    manifest = train_extractive(tiny_data, out, opts, command="test")
    assert {p.name for p in out.iterdir()} == {
        "adapter_config.json",
        "manifest.json",
        "head.safetensors",
    }
    saved = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert saved == manifest.to_json() and read_manifest(out) == manifest
    assert saved["kind"] == "extractive" and saved["name"] == "adapter"
    assert saved["base_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert saved["data_hash"].startswith("sha256:")
    assert not set(saved) & {"training_data_hash", "eval_metrics"}  # the old names
    assert saved["rows"]["train"]["kept"] == 20
    assert 0.0 <= saved["metrics"]["valid"]["auc"] <= 1.0
    assert saved["created_at"] and saved["command"] == "test"
    validate_folder(out)  # what `adapters register` checks
    assert AdapterRegistry().register(out).manifest == manifest
    engine = ExtractiveEngine.load(out)
    result = engine.compress(
        "In 1950 the people of the harbour were told about the road.", rate=0.5
    )
    assert "1950" in result.text


def test_training_is_deterministic(tiny_data: Path, tmp_path: Path) -> None:
    opts = TrainOptions(layers=1, epochs=2, batch_units=64)
    first = train_extractive(tiny_data, tmp_path / "a", opts)
    second = train_extractive(tiny_data, tmp_path / "b", opts)
    assert first.metrics == second.metrics
    assert (tmp_path / "a" / "head.safetensors").read_bytes() == (
        tmp_path / "b" / "head.safetensors"
    ).read_bytes()


def test_missing_data_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"train\.jsonl"):
        train_extractive(tmp_path, tmp_path / "out")


def test_cli_records_the_command(tiny_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli-adapter"
    result = CliRunner().invoke(
        app,
        [
            "extractive",
            "--data",
            str(tiny_data),
            "--out",
            str(out),
            "--layers",
            "1",
            "--epochs",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["command"].startswith("compression-layer")
