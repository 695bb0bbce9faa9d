"""Against the real APIs: run only with keys set (``pytest -m live``); skipped otherwise."""

from __future__ import annotations

import os

import pytest

from compression_layer.settings import ValidationSettings, load_area
from compression_layer.validation import validate_pair
from repo_paths import REPO

REPO_CONFIGS = REPO / "configs"
CASES = [("claude", "ANTHROPIC_API_KEY"), ("gpt", "OPENAI_API_KEY"), ("gemini", "GEMINI_API_KEY")]


@pytest.mark.live
@pytest.mark.parametrize(("model", "env_var"), CASES)
async def test_real_api_answers_a_pair(
    model: str, env_var: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = os.environ.get(env_var)
    if not key:
        pytest.skip(f"{env_var} is not set")
    monkeypatch.setenv("COMPRESSION_LAYER_CONFIG_DIR", str(REPO_CONFIGS))
    monkeypatch.setenv(env_var, key)
    settings = load_area(ValidationSettings, budget_usd=0.05, max_tokens=64)
    report = await validate_pair(
        "The Golden Gate Bridge opened in 1937 and is 2,737 metres long.",
        "Golden Gate Bridge: opened 1937, 2,737 m long.",
        models=[model],
        questions=[{"question": "When did the bridge open?", "answers": ["1937"]}],
        settings=settings,
    )
    assert not report.partial, report.models[0].error
    assert report.calls > 0 and report.cost_usd < 0.05
    assert report.models[0].mean is not None
