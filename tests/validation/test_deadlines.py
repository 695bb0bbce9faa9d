"""Deadlines and the give-up rule under concurrency: hanging endpoints, Retry-After past the
deadline, calls in flight counted and cancelled. Every wait here is bounded by ``wait_for``; the
only sleeping is the fake server's."""

from __future__ import annotations

import asyncio

import pytest

from compression_layer.settings import ValidationSettings
from compression_layer.validation.errors import ProviderError
from compression_layer.validation.gate import ProviderGate, Ticket
from compression_layer.validation.harness import DEAD_AFTER, Harness
from compression_layer.validation.offline import offline_checks
from compression_layer.validation.report import ValidationReport
from val_fake_api import FakeAPI
from val_settings import KEYS, jaccard, make_settings

ORIGINAL = "The bridge opened in 1932 and carries 160,000 vehicles a day across the harbour."
COMPRESSED = "Bridge opened 1932; carries 160,000 vehicles/day across harbour."
MODELS = ["claude", "gpt", "gemini"]
APIS = ("anthropic", "openai", "gemini")
QUESTIONS = [{"question": f"Question {i}?"} for i in range(4)]  # 5 tasks with the summary
BOUND_S = 60  # the test's own bound: far past every deadline below


@pytest.fixture(autouse=True)
def _warm() -> None:
    """Import the SDKs and load the tokenizers before the clock starts: cold, they take seconds
    on a busy machine, and these tests are about calls cut off in flight, not calls never sent."""
    pytest.importorskip("anthropic")
    pytest.importorskip("openai")
    pytest.importorskip("google.genai")
    offline_checks(ORIGINAL, COMPRESSED, [], jaccard)


async def _validate(
    settings: ValidationSettings, models: list[str], deadline_s: float | None = None
) -> tuple[ValidationReport, Harness]:
    async def run() -> tuple[ValidationReport, Harness]:
        async with Harness(settings, similarity=jaccard, env=KEYS, deadline_s=deadline_s) as h:
            report = await h.validate(ORIGINAL, COMPRESSED, models, QUESTIONS)
            return report, h

    return await asyncio.wait_for(run(), BOUND_S)


def _hang(fake: FakeAPI) -> None:
    for api in APIS:
        fake.always[api] = "hang"


async def test_hanging_endpoints_end_at_the_pair_deadline(fake_api: FakeAPI) -> None:
    _hang(fake_api)
    settings = make_settings(fake_api.url, timeout_s=30, concurrency=4, pair_deadline_s=2)
    report, _ = await _validate(settings, MODELS)
    assert report.status == "no_answers" and report.deadline_reached
    for model in report.models:
        assert model.answered == 0 and model.failed == model.timed_out == 5
        assert all(t.timed_out and t.reason == "deadline" for t in model.tasks)
        assert all("the pair deadline of 2 s (pair_deadline_s)" in (t.error or "")
                   for t in model.tasks)  # fmt: skip
        assert any("the call was cancelled" in (t.error or "") for t in model.tasks), (
            report.failures
        )
    # Four slots per provider, but an unproven provider gets DEAD_AFTER calls in flight at most.
    for api in APIS:
        assert 0 < fake_api.count(api) <= DEAD_AFTER
    assert sum(u.timed_out for u in report.usage) == 3 * 10


async def test_the_run_deadline_bounds_everything(fake_api: FakeAPI) -> None:
    _hang(fake_api)
    settings = make_settings(fake_api.url, timeout_s=30, pair_deadline_s=None)
    report, _ = await _validate(settings, ["gpt"], deadline_s=2)
    assert report.status == "no_answers"
    assert all("the run deadline of 2 s (run_deadline_s)" in (t.error or "")
               for t in report.models[0].tasks)  # fmt: skip


async def test_a_provider_timed_out_is_given_up_for_the_rest_of_the_run(
    fake_api: FakeAPI,
) -> None:
    fake_api.always["openai"] = "hang"
    settings = make_settings(fake_api.url, timeout_s=30, concurrency=4, pair_deadline_s=2)

    async def run() -> tuple[ValidationReport, ValidationReport, int]:
        async with Harness(settings, similarity=jaccard, env=KEYS) as harness:
            first = await harness.validate(ORIGINAL, COMPRESSED, ["gpt", "claude"], QUESTIONS)
            sent = fake_api.count("openai")
            second = await harness.validate(ORIGINAL, COMPRESSED, ["gpt", "claude"], QUESTIONS)
            return first, second, sent

    first, second, sent = await asyncio.wait_for(run(), BOUND_S)
    assert first.status == second.status == "incomplete"
    assert fake_api.count("openai") == sent  # the second pair sent nothing to the hung endpoint
    gpt = second.models[0]
    assert all(t.reason == "skipped" for t in gpt.tasks)
    assert "given up after 3 failed calls in a row; last: no answer within" in (gpt.error or "")
    assert second.models[1].answered == 5  # claude unaffected


async def test_retry_after_past_the_deadline_fails_at_once(fake_api: FakeAPI) -> None:
    fake_api.retry_after_s = 30
    fake_api.always["anthropic"] = "429-wait"
    settings = make_settings(
        fake_api.url, max_retries=3, retry_after_max_s=60, pair_deadline_s=10, concurrency=1
    )
    report, _ = await _validate(settings, ["claude"])
    errors = {t.error for t in report.models[0].tasks}
    assert any("not retried: waiting 30 s would pass the deadline" in (e or "") for e in errors)
    assert fake_api.count("anthropic") == DEAD_AFTER  # each call tried once, then given up
    assert not report.deadline_reached


async def test_partial_failures_are_listed_but_leave_the_status(fake_api: FakeAPI) -> None:
    fake_api.script("openai", "404")  # one call of five tasks fails for good (not retryable)
    settings = make_settings(fake_api.url, concurrency=1)
    report, _ = await _validate(settings, ["gpt"])
    gpt = report.models[0]
    assert (gpt.answered, gpt.failed) == (4, 1)
    assert report.status == "ok" and report.partial
    assert report.failures[0] == "gpt: 1 of 5 tasks failed"
    assert "404 Not Found: model 'gpt-4.1-mini' is not available" in report.failures[1]


# The gate on its own: slots, probation, and cancelling calls in flight when giving up.


def _failure(n: int) -> ProviderError:
    return ProviderError("p", "m", f"failure {n}", reason="server")


async def test_an_unproven_provider_gets_at_most_give_up_after_calls_in_flight() -> None:
    gate = ProviderGate("p", concurrency=4, give_up_after=3)
    release = asyncio.Event()

    async def attempt() -> str:
        await release.wait()
        return "ok"

    calls = [asyncio.create_task(gate.run("m", attempt, Ticket())) for _ in range(6)]
    await asyncio.sleep(0)  # let every call reach the gate
    assert gate.active == 3
    release.set()
    assert await asyncio.wait_for(asyncio.gather(*calls), BOUND_S) == ["ok"] * 6
    assert gate.allowed() == 4  # proven: full concurrency


async def test_giving_up_cancels_the_calls_in_flight() -> None:
    gate = ProviderGate("p", concurrency=4, give_up_after=3)
    ok = asyncio.Event()
    ok.set()

    async def answer() -> str:
        await ok.wait()
        return "ok"

    await gate.run("m", answer, Ticket())  # proven: four slots now
    fail = asyncio.Event()
    never = asyncio.Event()

    def failing(n: int):  # type: ignore[no-untyped-def]
        async def attempt() -> str:
            await fail.wait()
            raise _failure(n)

        return attempt

    async def hung() -> str:
        await never.wait()
        return "late"

    tickets = [Ticket() for _ in range(5)]
    calls = [asyncio.create_task(gate.run("m", failing(n), tickets[n])) for n in range(3)]
    calls.append(asyncio.create_task(gate.run("m", hung, tickets[3])))
    calls.append(asyncio.create_task(gate.run("m", hung, tickets[4])))  # waits: 4 slots
    await asyncio.sleep(0)
    assert gate.active == 4 and not tickets[4].started
    fail.set()
    outcomes = await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), BOUND_S)
    reasons = [getattr(o, "reason", None) for o in outcomes]
    assert reasons == ["server", "server", "server", "skipped", "skipped"]
    assert gate.dead and gate.active == 0
    assert "given up after 3 failed calls in a row; last: failure" in str(outcomes[3])
    with pytest.raises(ProviderError, match="skipped"):
        await gate.run("m", answer, Ticket())
