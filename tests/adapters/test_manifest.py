"""The one manifest model: old field names still read, round trips keep extras, the packaged
adapter's manifest is current and the packaged folder registers under a name of its own."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from compression_layer.adapters.check import validate_folder
from compression_layer.adapters.manifest import (
    AdapterError,
    Manifest,
    read_manifest,
    write_manifest,
)
from compression_layer.adapters.registry import AdapterRegistry, packaged_dir

OLD_EXTRACTIVE = {
    "kind": "extractive",
    "name": "mine",
    "base_model": "sentence-transformers/all-MiniLM-L6-v2",
    "training_data_hash": "sha256:abc",
    "eval_metrics": {"valid": {"auc": 0.9}},
    "created_at": "2025-01-01T00:00:00+00:00",
    "command": "compression-layer train extractive",
    "rows": {"train": {"kept": 3}},
}


def test_old_names_read_as_the_new_ones() -> None:
    manifest = Manifest.model_validate(OLD_EXTRACTIVE)
    assert manifest.data_hash == "sha256:abc"
    assert manifest.metrics == {"valid": {"auc": 0.9}}
    assert manifest.extra == {"rows": {"train": {"kept": 3}}}
    written = manifest.to_json()
    assert "training_data_hash" not in written and "eval_metrics" not in written
    same = {**OLD_EXTRACTIVE, "data_hash": "sha256:abc"}  # both spellings agreeing: fine
    assert Manifest.model_validate(same).data_hash == "sha256:abc"


def test_old_and_new_names_that_disagree_are_refused() -> None:
    with pytest.raises(ValueError, match=r"'training_data_hash' .* and 'data_hash'"):
        Manifest.model_validate({**OLD_EXTRACTIVE, "data_hash": "sha256:other"})


def test_write_then_read_keeps_extras_and_puts_common_fields_first(tmp_path: Path) -> None:
    manifest = Manifest.model_validate(OLD_EXTRACTIVE)
    path = write_manifest(tmp_path / "adapter", manifest)
    assert read_manifest(tmp_path / "adapter") == manifest
    keys = list(json.loads(path.read_text(encoding="utf-8")))
    assert keys[:7] == [
        "kind", "name", "base_model", "data_hash", "metrics", "created_at", "command"
    ]  # fmt: skip
    assert [p.name for p in (tmp_path / "adapter").iterdir()] == ["manifest.json"]


def test_read_manifest_reports_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(AdapterError, match=r"missing manifest\.json"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text('{"kind": "speculative"}', encoding="utf-8")
    with pytest.raises(AdapterError) as err:
        read_manifest(tmp_path)
    for field in ("kind", "base_model", "data_hash", "created_at"):
        assert f"manifest.json: {field}:" in str(err.value)


def test_the_packaged_manifest_uses_the_current_names() -> None:
    folder = packaged_dir("extractive")
    assert folder is not None
    raw = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert not set(raw) & {"training_data_hash", "eval_metrics"}
    manifest = read_manifest(folder)
    assert manifest.kind == "extractive" and manifest.name == "extractive-default"
    assert manifest.data_hash.startswith("sha256:")
    assert manifest.metrics["valid"]["auc"] == 0.9201  # the measured values, not retrained
    assert manifest.command.startswith("compression-layer train extractive")
    validate_folder(folder)  # weights and config agree with it too


def test_registering_the_packaged_adapter(tmp_path: Path) -> None:
    folder = packaged_dir("extractive")
    assert folder is not None
    registry = AdapterRegistry()
    with pytest.raises(AdapterError, match=r"built-in packaged adapter.*--name"):
        registry.register(folder)
    record = registry.register(folder, name="packaged-copy")
    assert record.kind == "extractive" and record.source == "registry"
    assert record.manifest.metrics["valid"]["auc"] == 0.9201


def test_a_folder_with_the_old_names_registers(tmp_path: Path) -> None:
    folder = packaged_dir("extractive")
    assert folder is not None
    old = tmp_path / "trained-before"
    shutil.copytree(folder, old)
    raw = json.loads((old / "manifest.json").read_text(encoding="utf-8"))
    raw["training_data_hash"] = raw.pop("data_hash")
    raw["eval_metrics"] = raw.pop("metrics")
    (old / "manifest.json").write_text(json.dumps(raw), encoding="utf-8")
    record = AdapterRegistry().register(old)
    assert record.name == "trained-before"
    assert record.manifest.data_hash == raw["training_data_hash"]
    assert record.manifest.metrics == raw["eval_metrics"]
