"""Metrics, tasks, offline checks, exact token counters, the judge and question generation."""

from __future__ import annotations

import json

import pytest

from compression_layer import tokens
from compression_layer.errors import InputError
from compression_layer.validation.counting import exact_count, register_exact_counters
from compression_layer.validation.harness import Harness
from compression_layer.validation.metrics import (
    ast_equivalent,
    exact_match,
    parse_verdict,
    score_answers,
    token_f1,
)
from compression_layer.validation.offline import offline_checks
from compression_layer.validation.tasks import Task, parse_questions, plan_tasks, render
from val_fake_api import FakeAPI
from val_settings import KEYS, jaccard, make_settings

CODE = '''import math


def area(r: float) -> float:
    """Area of a circle."""
    # pi r squared
    return math.pi * r ** 2
'''
CODE_NO_DOC = "import math\ndef area(r: float) -> float:\n    return math.pi * r ** 2\n"


def test_exact_match_and_f1_use_squad_normalisation() -> None:
    assert exact_match("The Eiffel Tower.", ["eiffel tower"]) == 1.0
    assert token_f1("1889 in Paris", ["1889"]) == pytest.approx(2 * (1 / 3) / (1 / 3 + 1))
    assert token_f1("", ["x"]) == 0.0


def test_ast_equivalence_ignores_comments_and_optionally_docstrings() -> None:
    assert ast_equivalent(CODE, CODE.replace("    # pi r squared\n", "")) is True
    assert ast_equivalent(CODE, CODE_NO_DOC) is False
    assert ast_equivalent(CODE, CODE_NO_DOC, ignore_docstrings=True) is True
    assert ast_equivalent(CODE, "def (") is None


def test_code_answers_compare_by_ast() -> None:
    task = Task(id="code_complete", kind="code_complete")
    a = "```python\nprint(area(2))\n```"
    b = "Here:\n```python\nprint( area( 2 ) )  # four pi\n```"
    score = score_answers(task, a, b, jaccard)
    assert (score.score, score.method, score.ast_equal) == (1.0, "ast", True)


def test_judge_verdicts_parse_or_are_rejected() -> None:
    verdict = parse_verdict('```json\n{"verdict": "Partial", "reason": "misses the year"}\n```')
    assert verdict is not None and (verdict.verdict, verdict.score) == ("partial", 0.5)
    assert parse_verdict("looks fine to me") is None
    assert parse_verdict('{"verdict": "maybe"}') is None


def test_render_inserts_code_verbatim_and_plans_by_domain() -> None:
    assert render("<{{context}}>", context="{{x}} {y}") == "<{{x}} {y}>"
    assert [t.kind for t in plan_tasks(CODE)] == ["code_explain", "code_output", "code_complete"]
    assert [t.kind for t in plan_tasks("Paris is in France.")] == ["summary"]
    assert [t.kind for t in plan_tasks("x", kinds=["reasoning"])] == ["reasoning"]
    with pytest.raises(InputError, match="unknown task kinds"):
        plan_tasks("x", kinds=["poetry"])


def test_generated_questions_are_parsed_leniently() -> None:
    items = '[{"question": "Q1?", "answer": "A1"}, {"bad": 1}, {"question": "Q2?"}]'
    reply = f"Sure!\n```json\n{items}\n```"
    parsed = parse_questions(reply, limit=5)
    assert [(q.question, q.answers) for q in parsed] == [("Q1?", ["A1"]), ("Q2?", [])]
    assert parse_questions("no json here", limit=5) == []


def test_offline_checks_for_code() -> None:
    checks = offline_checks(CODE, CODE_NO_DOC, similarity=jaccard)
    assert checks.is_code and checks.compressed_parses
    assert (checks.ast_equal, checks.ast_equal_ignoring_docstrings) == (False, True)
    o200k = checks.tokens[0]
    assert o200k.tokenizer == "o200k_base" and 0 < o200k.compressed < o200k.original
    assert {t.tokenizer: t.estimated for t in checks.tokens}["claude"] is True


async def test_exact_counters_plug_into_tokens(fake_api: FakeAPI) -> None:
    settings = make_settings(fake_api.url)
    registered = register_exact_counters(settings, env=KEYS)
    try:
        assert registered == ["claude", "gemini"]
        counted = tokens.count("one two three", "claude")
        assert (counted.tokens, counted.encoding, counted.estimated) == (3, "claude-api", False)
        assert tokens.count("one two three four", "gemini-2.5-flash").tokens == 4
        tokens.count("one two three", "claude")  # memoised: no second request
        assert fake_api.count(kind="count") == 2
    finally:
        tokens.unregister_exact_counter("claude")
        tokens.unregister_exact_counter("gemini")
    assert register_exact_counters(settings, env={}) == []
    async_count = await exact_count("a b c d e", "gemini", settings, env=KEYS)
    assert (async_count.tokens, async_count.encoding) == (5, "gemini-api")


async def test_question_generation_and_judge(fake_api: FakeAPI) -> None:
    def answer(api: str, system: str, prompt: str) -> str:
        if "reading-comprehension" in system:
            return json.dumps([{"question": "When did it open?", "answer": "1932"}])
        if "grader" in system:
            return '{"verdict": "equivalent", "reason": "same year"}'
        return "1932" if "1932" in prompt else "not in context"

    fake_api.answer = answer
    settings = make_settings(fake_api.url, question_model="gpt", judge_model="claude")
    async with Harness(settings, similarity=jaccard, env=KEYS) as harness:
        report = await harness.validate(
            "The bridge opened in 1932.", "Bridge opened 1932.", ["gemini"]
        )
    assert "1 questions generated by gpt" in report.notes
    kinds = {t.kind: t for t in report.models[0].tasks}
    assert set(kinds) == {"qa", "summary"}
    qa = kinds["qa"]
    assert qa.score is not None and qa.score.method == "judge"
    assert (qa.score.verdict, qa.score.reason, qa.score.score) == ("equivalent", "same year", 1.0)
    assert {u.provider for u in report.usage} == {"openai", "gemini", "anthropic"}
    assert report.calls == 1 + 2 * 2 + 2  # questions + 2 tasks x 2 texts + 2 judgements
