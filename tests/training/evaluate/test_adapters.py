"""``eval adapter``: metrics, the extractive comparison, the reports, and the promotion gate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("mlx_lm", reason="the mlx extra is not installed")

from adapter_fakes import packaged_copy
from compression_layer.adapters.registry import AdapterRegistry
from compression_layer.training.evaluate.adapters import evaluate_adapter, score_outputs
from compression_layer.training.evaluate.compress import Item
from compression_layer.training.evaluate.report import write_report
from compression_layer.training.gate import promote, training_evaluator
from tiny_qwen import PROMPTS, build_tiny_qwen3, chat_rows, train_tiny_adapter
from tiny_shared import PARAGRAPH, tiny_shared


@pytest.fixture(scope="module")
def tiny_adapter(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("eval")
    model = build_tiny_qwen3(root / "model")
    return train_tiny_adapter(model, root / "cand", chat_rows(PROMPTS, "alpha"), steps=4)


def test_score_outputs_counts_answers_facts_and_reduction() -> None:
    items = [Item(PARAGRAPH, [("When?", ["12 March 1931"]), ("Where?", ["Tesk river"])])]
    score = score_outputs(items, ["Harlow Bridge opened 12 March 1931, 412 metres"], [5.0])
    assert 0.3 < score.token_reduction < 0.8
    assert score.answer_retention == 0.5 and score.questions == 2
    assert 0.5 <= score.facts_kept < 1.0  # date and measure kept, the river lost
    assert score_outputs(items, [""], [1.0]).empty_outputs == 1


def test_eval_adapter_reports_generative_and_extractive(tmp_path: Path, tiny_adapter: Path) -> None:
    AdapterRegistry().register(tiny_adapter, "cand")
    data = tiny_shared(tmp_path / "shared")
    report = evaluate_adapter("cand", data, rate=0.5, limit=2)
    assert set(report.datasets) == {"squad-heldout", "nq-open"}
    squad = report.datasets["squad-heldout"]
    assert {"generative-guarded", "generative-raw"} <= set(squad)
    assert any(k.startswith("extractive@") for k in squad)
    guarded = squad["generative-guarded"]
    # the fact guard appends the date and the measure the random model drops
    assert guarded.items == 2 and guarded.facts_kept >= squad["generative-raw"].facts_kept
    assert guarded.latency_ms_mean is not None and guarded.latency_ms_mean > 0
    files = write_report(report, tmp_path / "out" / "cand")
    assert [f.suffix for f in files] == [".json", ".md", ".png"]
    assert "| squad-heldout | generative-guarded |" in files[1].read_text(encoding="utf-8")
    assert json.loads(files[0].read_text(encoding="utf-8"))["adapter"] == "cand"


def test_training_evaluator_plugs_into_promote(
    tmp_path: Path, tiny_adapter: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in ("MIN_TOKEN_REDUCTION", "MIN_FACT_RETENTION", "MIN_ANSWER_RETENTION"):
        monkeypatch.setenv(f"COMPRESSION_LAYER_ADAPTERS__{key}", "-1" if "TOKEN" in key else "0")
    # the random model rambles up to its cap: one token, so that the guarded output compresses
    monkeypatch.setenv("COMPRESSION_LAYER_GENERATIVE__MAX_NEW_TOKENS", "1")
    registry = AdapterRegistry()
    registry.register(tiny_adapter, "gated")
    data = tiny_shared(tmp_path / "shared")
    decision = promote(registry, "gated", evaluator=training_evaluator(data, limit=2))
    assert decision.passed and decision.metrics.evaluator == "training.evaluate"
    assert decision.metrics.items == 2
    assert registry.active_name("generative") == "gated"


def test_comparison_uses_the_extractive_adapter_users_get(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from compression_layer.training.evaluate.adapters import default_extractive_adapter

    assert default_extractive_adapter() is None  # nothing configured or active: the packaged one
    monkeypatch.setenv("COMPRESSION_LAYER_COMPRESS__EXTRACTIVE_ADAPTER", str(tmp_path / "mine"))
    assert default_extractive_adapter() == tmp_path / "mine"
    registry = AdapterRegistry()  # a promoted one comes first, as in a server
    registry.register(packaged_copy(tmp_path / "promoted"))
    registry.activate("promoted")
    assert default_extractive_adapter() == registry.show("promoted").path


def test_base_model_override_and_missing_base(tmp_path: Path, tiny_adapter: Path) -> None:
    from compression_layer.errors import EngineError
    from compression_layer.training.evaluate.adapters import resolve_base

    record = AdapterRegistry().register(tiny_adapter, "based")
    base = json.loads((tiny_adapter / "manifest.json").read_text(encoding="utf-8"))["base_model"]
    assert resolve_base(record) == Path(base)
    with pytest.raises(EngineError, match=r"tried: '.*elsewhere'.*prepare_gemma\.py"):
        resolve_base(record, str(tmp_path / "elsewhere"))
