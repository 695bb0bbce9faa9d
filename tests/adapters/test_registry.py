"""The adapter registry: validation, gate-checked promotion, activation, rollback and the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from adapter_fakes import FakeEvaluator, make_adapter, packaged_copy
from compression_layer.adapters.check import AdapterError, safetensors_header, validate_folder
from compression_layer.adapters.registry import AdapterRegistry, packaged_dir
from compression_layer.cli.adapters import app
from compression_layer.settings import AdapterSettings, load_area
from compression_layer.training.gate import (
    GateRefused,
    evaluator_named,
    heldout_items,
    promote,
    score,
)


@pytest.fixture
def registry(tmp_path: Path) -> AdapterRegistry:
    reg = AdapterRegistry()
    for name in ("a", "b", "c"):
        reg.register(make_adapter(tmp_path / "src" / name))
    return reg


def _gate(**overrides: Any) -> AdapterSettings:
    return load_area(AdapterSettings, **overrides)


def test_register_copies_into_the_data_dir(registry: AdapterRegistry, _isolated_home: Path) -> None:
    record = registry.show("a")
    assert record.kind == "generative"
    assert record.path == _isolated_home / "adapters" / "generative" / "a"
    assert (record.path / "adapters.safetensors").is_file()
    assert [r.name for r in registry.list()] == ["a", "b", "c"]
    assert registry.active_name("generative") is None


def test_register_reports_every_problem_at_once(tmp_path: Path) -> None:
    bad = make_adapter(tmp_path / "bad", base="tiny/base")
    config = json.loads((bad / "adapter_config.json").read_text(encoding="utf-8"))
    config["model"] = "other/base"
    config["lora_parameters"]["rank"] = 8  # tensors were written with rank 4
    (bad / "adapter_config.json").write_text(json.dumps(config), encoding="utf-8")
    manifest = json.loads((bad / "manifest.json").read_text(encoding="utf-8"))
    del manifest["data_hash"]
    (bad / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(AdapterError) as err:
        AdapterRegistry().register(bad)
    message = str(err.value)
    assert "data_hash" in message
    assert "rank" in message  # without data_hash the kind is still known: shapes are checked
    assert AdapterRegistry().list() == []


def test_register_reports_mismatches_and_truncation_together(tmp_path: Path) -> None:
    bad = make_adapter(tmp_path / "bad")
    config = json.loads((bad / "adapter_config.json").read_text(encoding="utf-8"))
    config["model"] = "other/base"
    config["lora_parameters"]["rank"] = 8
    (bad / "adapter_config.json").write_text(json.dumps(config), encoding="utf-8")
    with pytest.raises(AdapterError) as err:
        validate_folder(bad)
    message = str(err.value)
    assert "base model mismatch" in message and "other/base" in message
    assert "q_proj.lora_a: shape (64, 4) does not fit rank 8" in message
    assert "q_proj.lora_b: shape (4, 64) does not fit rank 8" in message
    assert "3 problem(s)" in message

    weights = bad / "adapters.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    with pytest.raises(AdapterError) as err:
        validate_folder(bad)
    assert "truncated" in str(err.value) and "base model mismatch" in str(err.value)


def test_register_refuses_missing_files_and_bad_kind(tmp_path: Path) -> None:
    bad = make_adapter(tmp_path / "bad", kind="speculative")
    (bad / "adapters.safetensors").unlink()
    (bad / "adapter_config.json").unlink()
    with pytest.raises(AdapterError) as err:
        validate_folder(bad)
    assert "missing adapter_config.json" in str(err.value)
    assert "manifest.json: kind" in str(err.value)
    with pytest.raises(AdapterError, match="not found"):
        validate_folder(tmp_path / "nowhere")


def test_register_refuses_duplicates_and_bad_names(
    registry: AdapterRegistry, tmp_path: Path
) -> None:
    with pytest.raises(AdapterError, match="already registered"):
        registry.register(make_adapter(tmp_path / "again" / "a"))
    with pytest.raises(AdapterError, match="invalid adapter name"):
        registry.register(make_adapter(tmp_path / "x"), name="../escape")


def test_safetensors_header_reads_shapes(tmp_path: Path) -> None:
    folder = make_adapter(tmp_path / "ok")
    header = safetensors_header(folder / "adapters.safetensors")
    assert header["model.layers.1.self_attn.q_proj.lora_a"] == ("F32", (64, 4))


def test_first_promotion_needs_only_the_minimums(registry: AdapterRegistry) -> None:
    fake = FakeEvaluator({"a": (0.5, 0.9, 0.8)})
    decision = promote(registry, "a", evaluator=fake, settings=_gate())
    assert decision.passed and decision.baseline is None
    assert fake.calls == ["a"]
    assert registry.active_name("generative") == "a"
    assert registry.show("a").gate is not None


def test_first_promotion_below_minimum_is_refused(registry: AdapterRegistry) -> None:
    fake = FakeEvaluator({"a": (0.05, 0.9, 0.8)})
    with pytest.raises(GateRefused) as err:
        promote(registry, "a", evaluator=fake, settings=_gate(min_token_reduction=0.1))
    assert "token_reduction 0.0500 is below the minimum" in str(err.value)
    assert registry.active_name("generative") is None


def test_promotion_refuses_regression_beyond_tolerance(registry: AdapterRegistry) -> None:
    fake = FakeEvaluator({"a": (0.5, 0.95, 0.9), "b": (0.6, 0.90, 0.9), "c": (0.49, 0.94, 0.9)})
    cfg = _gate(tolerance=0.02)
    promote(registry, "a", evaluator=fake, settings=cfg)
    with pytest.raises(GateRefused) as err:
        promote(registry, "b", evaluator=fake, settings=cfg)
    assert "fact_retention regressed" in str(err.value) and "'a'" in str(err.value)
    assert err.value.decision.baseline_name == "a"
    assert registry.active_name("generative") == "a"
    decision = promote(registry, "c", evaluator=fake, settings=cfg)  # within tolerance
    assert decision.passed and decision.baseline_name == "a"
    assert registry.active_name("generative") == "c"


def test_activate_and_rollback_walk_the_history(registry: AdapterRegistry) -> None:
    registry.activate("a")
    registry.activate("b")
    registry.activate("c")
    rolled = registry.rollback("generative")
    assert rolled is not None and rolled.name == "b"
    assert registry.active_name("generative") == "b"
    rolled = registry.rollback("generative")
    assert rolled is not None and rolled.name == "a"
    assert registry.rollback("generative") is None
    assert registry.active_name("generative") is None
    with pytest.raises(AdapterError, match="nothing to roll back"):
        registry.rollback("generative")
    with pytest.raises(AdapterError, match="unknown adapter kind"):
        registry.rollback("speculative")


def test_pointer_writes_leave_no_temp_files(registry: AdapterRegistry) -> None:
    for name in ("a", "b", "a", "c"):
        registry.activate(name)
    leftovers = [p.name for p in registry.root.iterdir() if p.name.startswith(".registry-")]
    assert leftovers == []
    state = json.loads(registry.registry_file.read_text(encoding="utf-8"))
    assert state["active"]["generative"] == "c"
    assert state["history"]["generative"] == ["a", "b", "a", "c"]


def test_builtin_score_on_the_packaged_sample(tmp_path: Path) -> None:
    cfg = _gate(heldout_path=tmp_path / "none", heldout_items=3)
    items = heldout_items(cfg)
    assert len(items) == 3 and all(i.answers for i in items)
    same = score(lambda t: t, items)
    assert same.token_reduction == 0.0 and same.answer_retention == 1.0
    assert same.fact_retention == 1.0
    empty = score(lambda t: "", items)
    assert empty.token_reduction == 1.0 and empty.answer_retention == 0.0


def test_heldout_reads_squad_when_present(shared_data: Path) -> None:
    items = heldout_items(_gate(heldout_path=shared_data / "squad", heldout_items=5))
    assert len(items) == 5
    assert all(any(a.lower() in i.text.lower() for a in i.answers) for i in items)


def test_cli_lists_shows_and_fails_cleanly(registry: AdapterRegistry, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["activate", "b"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["list", "--json"])
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    assert [r["name"] for r in rows] == ["extractive-default", "a", "b", "c"]
    assert [r["name"] for r in rows if r["active"]] == ["extractive-default", "b"]
    result = runner.invoke(app, ["show", "b"])
    assert json.loads(result.stdout)["kind"] == "generative"
    result = runner.invoke(app, ["show", "zzz"])
    assert result.exit_code == 2 and "no adapter named 'zzz'" in result.stderr
    broken = make_adapter(tmp_path / "broken")
    (broken / "manifest.json").write_text("{not json", encoding="utf-8")
    result = runner.invoke(app, ["register", str(broken)])
    assert result.exit_code == 2 and "manifest.json is not readable JSON" in result.stderr
    result = runner.invoke(app, ["rollback", "generative"])
    assert result.exit_code == 0 and "no generative adapter is active" in result.stdout


def test_list_and_show_the_built_in_default_on_a_fresh_machine(_isolated_home: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["list"])
    assert result.exit_code == 0, result.output
    line = next(x for x in result.stdout.splitlines() if "extractive-default" in x)
    assert "built-in" in line and "default" in line and "valid.auc=0.9201" in result.stdout
    rows = json.loads(runner.invoke(app, ["list", "--json"]).stdout)
    assert [(r["name"], r["source"], r["active"]) for r in rows] == [
        ("extractive-default", "packaged", True)
    ]
    shown = runner.invoke(app, ["show", "extractive-default"])
    assert shown.exit_code == 0, shown.output
    record = json.loads(shown.stdout)
    assert record["source"] == "packaged" and record["kind"] == "extractive"
    assert record["manifest"]["metrics"]["valid"]["f1"] == 0.7864
    assert Path(record["path"]) == packaged_dir("extractive")
    assert not (_isolated_home / "adapters" / "extractive").exists()  # never copied in
    missing = runner.invoke(app, ["show", "zzz"])
    assert missing.exit_code == 2 and "built-in: extractive-default" in missing.stderr


def test_the_built_in_default_is_not_active_once_another_is(tmp_path: Path) -> None:
    registry = AdapterRegistry()
    registry.register(packaged_copy(tmp_path / "mine"))
    registry.activate("mine")
    rows = json.loads(CliRunner().invoke(app, ["list", "--json"]).stdout)
    assert {r["name"]: r["active"] for r in rows} == {"extractive-default": False, "mine": True}
    assert registry.effective("extractive").name == "mine"  # type: ignore[union-attr]
    registry.rollback("extractive")
    assert registry.effective("extractive").name == "extractive-default"  # type: ignore[union-attr]
    assert registry.effective("generative") is None


def test_the_built_in_default_is_the_extractive_gate_baseline(tmp_path: Path) -> None:
    registry = AdapterRegistry()
    registry.register(packaged_copy(tmp_path / "better"))
    registry.register(packaged_copy(tmp_path / "worse"))
    fake = FakeEvaluator(
        {
            "extractive-default": (0.5, 0.9, 0.9),
            "better": (0.55, 0.9, 0.9),
            "worse": (0.3, 0.9, 0.9),
        }
    )
    with pytest.raises(GateRefused) as err:
        promote(registry, "worse", evaluator=fake, settings=_gate())
    assert err.value.decision.baseline_name == "extractive-default"
    assert err.value.decision.baseline_source == "packaged"
    assert "for 'extractive-default'" in str(err.value)
    decision = promote(registry, "better", evaluator=fake, settings=_gate())
    assert decision.passed and decision.baseline_name == "extractive-default"
    assert fake.calls == ["extractive-default", "worse", "extractive-default", "better"]
    fake.calls.clear()
    with pytest.raises(GateRefused) as err:  # now against the active one
        promote(registry, "worse", evaluator=fake, settings=_gate())
    assert err.value.decision.baseline_source == "registry" and fake.calls[0] == "better"


def test_the_built_in_default_cannot_be_promoted_or_activated() -> None:
    registry = AdapterRegistry()
    fake = FakeEvaluator({})
    with pytest.raises(AdapterError, match=r"built-in default.*nothing to promote"):
        promote(registry, "extractive-default", evaluator=fake)
    with pytest.raises(AdapterError, match=r"never activated.*rollback extractive"):
        registry.activate("extractive-default")
    assert fake.calls == []


def test_evaluators_are_picked_by_name() -> None:
    assert callable(evaluator_named("builtin")) and callable(evaluator_named("training"))
    with pytest.raises(AdapterError, match="unknown evaluator 'fast'; choose one of training"):
        evaluator_named("fast")
    result = CliRunner().invoke(app, ["promote", "a", "--evaluator", "fast"])
    assert result.exit_code == 2 and "unknown evaluator 'fast'" in result.stderr
