"""The generative engine on a tiny random Qwen3: prompt format, generation, adapters, fact guard."""

from __future__ import annotations

from pathlib import Path

import pytest

from compression_layer.compress.generative import prompt
from compression_layer.compress.generative.guard import guard_output
from compression_layer.compress.generative.mlx import (
    GenerativeEngine,
    load_model,
    resolve_base_model,
)
from compression_layer.compress.generative.prompt import messages_for, output_cap
from compression_layer.compress.types import CompressRequest, Domain, EngineOutput
from compression_layer.errors import EngineError
from compression_layer.settings import GenerativeSettings, load_area
from tiny_qwen import SYSTEM_PROMPT, TARGET_A

PROSE = Domain(kind="prose", confidence=1.0)
TEXT = "The meeting moved to Tuesday in room 42 with Alice."


def _request(rate: float | None = 0.5, target: int | None = None) -> CompressRequest:
    return CompressRequest(engine="generative", rate=rate, target_tokens=target)


class FakeEngine:
    """Stands in for the extractive engine the guard falls back to."""

    name = "extractive"

    def run(self, text: str, domain: Domain, request: CompressRequest) -> EngineOutput:
        return EngineOutput(f"kept: {text}", self.name, "fake-extractive")


def _unavailable() -> FakeEngine:
    raise EngineError("no extractive adapter here")


def test_system_prompt_matches_the_training_data() -> None:
    assert prompt.SYSTEM_PROMPT == SYSTEM_PROMPT
    msgs = messages_for("abc")
    assert msgs == [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": "Compress:\nabc"},
    ]


def test_output_cap_follows_input_size_rate_and_limits() -> None:
    cfg = load_area(GenerativeSettings, max_tokens_factor=1.0, min_new_tokens=10)
    assert output_cap(100, _request(0.5), cfg) == 60
    assert output_cap(100, _request(0.2), cfg) == 30
    assert output_cap(100, _request(None, target=20), cfg) == 30
    small = load_area(GenerativeSettings, max_new_tokens=25)
    assert output_cap(10_000, _request(0.5), small) == 25


def test_missing_base_model_error_names_it_and_how_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(EngineError) as err:
        resolve_base_model(str(tmp_path / "no-such-model"))
    assert "no-such-model" in str(err.value)
    assert "COMPRESSION_LAYER_GENERATIVE__BASE_MODEL" in str(err.value)
    with pytest.raises(EngineError) as err:
        resolve_base_model("nobody-here/Qwen3-0B-missing")
    assert "huggingface-cli download nobody-here/Qwen3-0B-missing" in str(err.value)


def test_base_weights_are_shared_between_adapters(
    tiny_model: Path, tiny_adapters: dict[str, Path]
) -> None:
    from mlx.utils import tree_flatten

    base = load_model(str(tiny_model))
    a = load_model(str(tiny_model), tiny_adapters["a"], "a")
    b = load_model(str(tiny_model), tiny_adapters["b"], "b")
    base_arrays = dict(tree_flatten(base.model.parameters()))
    for loaded in (a, b):
        params = dict(tree_flatten(loaded.model.parameters()))
        shared = [k for k, v in params.items() if k.replace(".linear.", ".") in base_arrays]
        assert shared, "expected base parameters inside the LoRA copy"
        assert all(params[k] is base_arrays[k.replace(".linear.", ".")] for k in shared)
        assert any(k.endswith("lora_a") for k in params)
    # The base model itself is never wrapped: adapters live on copies only.
    assert not any(k.endswith("lora_a") for k in base_arrays)


def test_adapters_generate_different_outputs(
    tiny_model: Path, tiny_adapters: dict[str, Path]
) -> None:
    cfg = load_area(GenerativeSettings, max_new_tokens=12)
    outs = {}
    for name, path in tiny_adapters.items():
        engine = GenerativeEngine(load_model(str(tiny_model), path, name), cfg, fallback=FakeEngine)
        outs[name] = engine.generate(TEXT, _request())
        assert outs[name], f"adapter {name} generated nothing"
    assert outs["a"] != outs["b"]
    assert "pha" in outs["a"]  # trained towards TARGET_A ("alpha alpha alpha")
    assert TARGET_A[:3] not in outs["b"]


def test_run_appends_missing_facts_by_default(
    tiny_model: Path, tiny_adapters: dict[str, Path]
) -> None:
    cfg = load_area(GenerativeSettings, max_new_tokens=8)
    model = load_model(str(tiny_model), tiny_adapters["a"], "a")
    out = GenerativeEngine(model, cfg, fallback=FakeEngine).run(TEXT, PROSE, _request())
    assert out.engine == "generative" and out.adapter == "a"
    assert "\nfacts: " in out.text and "42" in out.text.split("facts: ")[1]
    assert any("appended" in n for n in out.notes)


def test_guard_fallback_uses_the_fallback_engine() -> None:
    cfg = load_area(GenerativeSettings, fact_guard="fallback")
    out = EngineOutput("meeting moved", "generative", "a")
    result = guard_output(TEXT, out, PROSE, _request(), cfg, FakeEngine)
    assert result.engine == "extractive" and result.text == f"kept: {TEXT}"
    assert any("fell back to extractive" in n for n in result.notes)


def test_guard_fallback_unavailable_appends_and_says_so() -> None:
    cfg = load_area(GenerativeSettings, fact_guard="fallback")
    out = EngineOutput("meeting moved", "generative", "a")
    result = guard_output(TEXT, out, PROSE, _request(), cfg, _unavailable)
    assert result.engine == "generative" and "facts: " in result.text
    assert any("unavailable" in n for n in result.notes)
    assert any("appended" in n for n in result.notes)


def test_guard_leaves_complete_output_alone() -> None:
    cfg = load_area(GenerativeSettings)
    out = EngineOutput("mtg→Tuesday, room 42, Alice", "generative", "a")
    result = guard_output(TEXT, out, PROSE, _request(), cfg, _unavailable)
    assert result.text == "mtg→Tuesday, room 42, Alice" and result.notes == []


def test_registered_engine_runs_through_the_pipeline(
    tiny_model: Path, tiny_adapters: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("compression_layer.compress.domain", reason="domain detection not built")
    from compression_layer.compress.pipeline import compress

    monkeypatch.setenv("COMPRESSION_LAYER_GENERATIVE__BASE_MODEL", str(tiny_model))
    monkeypatch.setenv("COMPRESSION_LAYER_GENERATIVE__ADAPTER", str(tiny_adapters["b"]))
    monkeypatch.setenv("COMPRESSION_LAYER_GENERATIVE__MAX_NEW_TOKENS", "8")
    result = compress(TEXT, engine="generative")
    assert result.engine == "generative" and result.adapter == "b"
    assert result.facts_missing == []
    assert "42" in result.compressed


def test_builtin_gate_scores_a_real_adapter(
    tiny_model: Path,
    tiny_adapters: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    from compression_layer.adapters.registry import AdapterRegistry
    from compression_layer.settings import AdapterSettings
    from compression_layer.training.gate import GateRefused, promote

    monkeypatch.setenv("COMPRESSION_LAYER_GENERATIVE__BASE_MODEL", str(tiny_model))
    monkeypatch.setenv("COMPRESSION_LAYER_GENERATIVE__MAX_NEW_TOKENS", "4")
    registry = AdapterRegistry()
    registry.register(tiny_adapters["a"])
    strict = load_area(AdapterSettings, heldout_path=tmp_path / "none", heldout_items=2)
    with pytest.raises(GateRefused) as err:  # a random model does not compress
        promote(registry, "a", settings=strict)
    metrics = err.value.decision.metrics
    assert metrics.items == 2 and metrics.evaluator == "builtin"
    assert metrics.fact_retention == 1.0  # the fact guard appended what the model dropped
    assert registry.active_name("generative") is None
    lenient = strict.model_copy(update={"min_token_reduction": -10.0, "min_answer_retention": 0.0})
    assert promote(registry, "a", settings=lenient).passed
    assert registry.active_name("generative") == "a"
