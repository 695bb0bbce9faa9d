"""The harness end to end against the fake server: scores, cache, costs, budget, failures, keys."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from compression_layer.errors import InputError
from compression_layer.settings import ValidationSettings
from compression_layer.validation.costs import default_ledger_path, ledger_totals
from compression_layer.validation.errors import MissingKeyError, UnknownModelError
from compression_layer.validation.harness import DEAD_AFTER, Harness
from val_fake_api import FakeAPI
from val_settings import KEYS, jaccard, make_settings

ORIGINAL = (
    "The Eiffel Tower was completed in 1889 for the World's Fair in Paris. It is 330 metres "
    "tall and was designed by the company of Gustave Eiffel. It was the tallest structure in "
    "the world until 1930."
)
COMPRESSED = (
    "Eiffel Tower: completed 1889, Paris World's Fair, 330 m, Gustave Eiffel's company; "
    "world's tallest until 1930."
)
QUESTIONS = [{"question": "When was the tower completed?", "answers": ["1889"]}]
MODELS = ["claude", "gpt", "gemini"]


async def _run(settings: ValidationSettings, models: list[str], **kwargs: object):  # type: ignore[no-untyped-def]
    async with Harness(settings, similarity=jaccard, env=KEYS) as harness:
        return await harness.validate(ORIGINAL, COMPRESSED, models, **kwargs)  # type: ignore[arg-type]


async def test_answers_flow_through_all_three_apis(
    fake_api: FakeAPI, settings: ValidationSettings
) -> None:
    report = await _run(settings, MODELS)
    assert [m.model for m in report.models] == MODELS
    for model in report.models:
        assert [t.kind for t in model.tasks] == ["summary"]
        task = model.tasks[0]
        assert task.answer_original == task.answer_compressed == "It computes the answer, 42."
        assert model.mean == model.min == 1.0 and model.passed
    assert (report.transfer, report.passed, report.partial) == (1.0, True, False)
    assert report.calls == 6 and report.cached == 0
    assert fake_api.count() == 6
    assert not report.offline_only and report.offline.tokens[0].tokenizer == "o200k_base"


async def test_costs_add_up_to_billed_usage_and_ledger(
    fake_api: FakeAPI, settings: ValidationSettings
) -> None:
    report = await _run(settings, MODELS)
    prices = {e.model: e for e in settings.catalog.values()}
    expected = 0.0
    for usage in report.usage:
        entry = prices[usage.model]
        cost = (
            usage.input_tokens * entry.input_usd_per_mtok
            + usage.output_tokens * entry.output_usd_per_mtok
        ) / 1e6
        assert usage.cost_usd == pytest.approx(cost)
        expected += cost
    assert report.cost_usd == pytest.approx(expected)
    assert sum(ledger_totals().values()) == pytest.approx(expected)
    rows = default_ledger_path().read_text(encoding="utf-8").splitlines()
    assert len(rows) == 6 and {json.loads(r)["provider"] for r in rows} == {
        "anthropic", "openai", "gemini"
    }  # fmt: skip


async def test_second_run_is_served_from_cache_with_zero_http_calls(
    fake_api: FakeAPI, settings: ValidationSettings
) -> None:
    first = await _run(settings, MODELS, questions=QUESTIONS)
    seen = fake_api.count()
    second = await _run(settings, MODELS, questions=QUESTIONS)
    assert fake_api.count() == seen
    assert (second.calls, second.cached, second.cost_usd) == (0, first.calls, 0.0)
    assert second.mean == first.mean


async def test_gold_answers_make_qa_tasks_scored_by_f1(
    fake_api: FakeAPI, settings: ValidationSettings
) -> None:
    fake_api.answer = lambda api, system, prompt: "1889" if "1889" in prompt else "not in context"
    report = await _run(settings, ["gpt"], questions=QUESTIONS)
    qa = next(t for t in report.models[0].tasks if t.kind == "qa")
    assert qa.score is not None and qa.score.method == "gold-f1"
    assert (qa.score.score, qa.score.exact_match) == (1.0, 1.0)
    assert report.offline.answer_retention == 1.0


async def test_budget_stops_before_it_is_exceeded(fake_api: FakeAPI) -> None:
    # Each call is estimated at ~60 input tokens + 50 output tokens: about $0.0003 on claude.
    settings = make_settings(fake_api.url, budget_usd=0.0007, concurrency=1)
    report = await _run(settings, ["claude"], questions=QUESTIONS * 1 + [
        {"question": "How tall is it?", "answers": ["330 metres"]},
        {"question": "Who designed it?", "answers": ["Gustave Eiffel"]},
    ])  # fmt: skip
    assert report.budget_exhausted and report.partial
    errors = [t.error for t in report.models[0].tasks if t.error]
    assert errors and all("budget" in e for e in errors)
    assert 0 < fake_api.count() < 8
    assert report.cost_usd <= 0.0007
    assert sum(ledger_totals().values()) <= 0.0007


async def test_dead_provider_yields_a_partial_report(
    fake_api: FakeAPI, settings: ValidationSettings
) -> None:
    fake_api.dead.add("gemini")
    questions = [{"question": f"Question {i}?", "answers": []} for i in range(4)]
    report = await _run(settings, MODELS, questions=questions)
    by_name = {m.model: m for m in report.models}
    assert by_name["gemini"].error is not None and by_name["gemini"].passed is None
    assert by_name["claude"].passed and by_name["gpt"].passed
    assert report.partial and report.transfer == 1.0
    assert report.status == "incomplete"  # gemini produced no answer at all
    assert report.passed is None  # no pass is claimed while a requested model never answered
    # 10 calls were due (5 tasks x 2 texts), 3 attempts each with retries. Calls in flight count
    # towards the give-up rule, so no more than DEAD_AFTER calls were ever sent.
    assert fake_api.count("gemini") == DEAD_AFTER * 3
    assert any("skipped" in (t.error or "") for t in by_name["gemini"].tasks)
    assert by_name["gemini"].failed == 5 and by_name["gemini"].answered == 0
    assert report.failures[0] == "gemini: 5 of 5 tasks failed (no answer at all)"
    assert any("500: the API failed or is overloaded" in line for line in report.failures)
    assert any("gemini was given up after 3 failed calls" in note for note in report.notes)


async def test_every_provider_dead_is_no_answers(
    fake_api: FakeAPI, settings: ValidationSettings
) -> None:
    fake_api.dead.update({"anthropic", "openai", "gemini"})
    report = await _run(settings, MODELS)
    assert report.status == "no_answers" and report.passed is None
    assert [line for line in report.failures if not line.startswith(" ")] == [
        f"{m}: 1 of 1 tasks failed (no answer at all)" for m in MODELS
    ]


async def test_no_models_means_offline_checks_only(
    fake_api: FakeAPI, settings: ValidationSettings
) -> None:
    report = await _run(settings, [])
    assert report.offline_only and "offline checks only" in report.notes[0]
    assert report.models == [] and report.transfer is None and fake_api.count() == 0


async def test_missing_key_names_the_variable_before_any_call(
    fake_api: FakeAPI, settings: ValidationSettings
) -> None:
    env = {k: v for k, v in KEYS.items() if k != "ANTHROPIC_API_KEY"}
    async with Harness(settings, similarity=jaccard, env=env) as harness:
        with pytest.raises(MissingKeyError, match="ANTHROPIC_API_KEY"):
            await harness.validate(ORIGINAL, COMPRESSED, MODELS)
    assert fake_api.count() == 0


async def test_unknown_model_and_provider_are_refused(settings: ValidationSettings) -> None:
    with pytest.raises(UnknownModelError, match="known names are claude, gemini, gpt"):
        await _run(settings, ["llama-9000"])
    with pytest.raises(UnknownModelError, match="provider 'nowhere'"):
        await _run(settings, ["nowhere:some-model"])
    with pytest.raises(UnknownModelError, match="no price known"):
        await _run(settings, ["openai:gpt-unpriced"])


@pytest.mark.parametrize(("original", "compressed"), [("", "x"), ("x", "  \n")])
async def test_empty_texts_are_refused(
    settings: ValidationSettings, original: str, compressed: str
) -> None:
    async with Harness(settings, similarity=jaccard, env=KEYS) as harness:
        with pytest.raises(InputError, match="empty"):
            await harness.validate(original, compressed, [])


async def test_key_never_reaches_errors_logs_or_stored_rows(
    fake_api: FakeAPI, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    fake_api.echo_key_on_401 = True
    for api in ("anthropic", "openai", "gemini"):
        fake_api.script(api, "401", "401")
    settings = make_settings(fake_api.url, max_retries=0)
    with caplog.at_level(logging.DEBUG):
        report = await _run(settings, MODELS)
        good = await _run(settings, ["gpt"])
    assert good.calls == 2
    dumped = report.model_dump_json()
    assert all(m.error for m in report.models)
    assert "invalid key ***" in dumped
    for variable in KEYS:
        assert f"401 Unauthorized: the key in {variable} was rejected" in dumped
    stored = [p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()]
    for key in KEYS.values():
        assert key not in dumped
        assert key not in caplog.text
        assert all(key.encode() not in blob for blob in stored)
