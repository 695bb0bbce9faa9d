"""Each provider's real SDK against the fake server: answers, retries, Retry-After, timeouts."""

from __future__ import annotations

import pytest

from compression_layer.settings import ValidationSettings
from compression_layer.validation.errors import ProviderError
from compression_layer.validation.providers import (
    CompletionRequest,
    build_provider,
    resolve_model,
)
from compression_layer.validation.retry import RetryPolicy, with_retries
from val_fake_api import FakeAPI
from val_settings import make_settings

APIS = [("claude", "anthropic"), ("gpt", "openai"), ("gemini", "gemini")]
REQUEST = dict(system="Answer from the context.", prompt="Context: x\n\nQuestion: what is x?")


def _request(model: str) -> CompletionRequest:
    return CompletionRequest(model=model, max_tokens=20, **REQUEST)


@pytest.mark.parametrize(("name", "api"), APIS)
async def test_answer_and_usage_flow_through(
    fake_api: FakeAPI, keys: dict[str, str], name: str, api: str
) -> None:
    settings = make_settings(fake_api.url)
    model = resolve_model(name, settings)
    provider = build_provider(model.provider, settings)
    try:
        completion = await provider.complete(_request(model.model))
    finally:
        await provider.aclose()
    assert completion.text == "The answer to what is x? is 42."
    assert completion.input_tokens == 4 + 6  # words of system + prompt, as the fake counts
    assert completion.output_tokens == 8
    assert fake_api.count(api) == 1
    sent = fake_api.requests[0]
    assert sent.body is not None
    temperature = sent.body.get(
        "temperature", sent.body.get("generationConfig", {}).get("temperature")
    )
    # Anthropic's API 2026-10-21 rejects sampling parameters; the others are pinned to 0.
    assert temperature == (None if api == "anthropic" else 0)


async def _retried(settings: ValidationSettings, name: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    """One call through the real SDK and the harness's retry policy."""
    model = resolve_model(name, settings)
    provider = build_provider(model.provider, settings, env)
    try:
        return await with_retries(
            lambda: provider.complete(_request(model.model)), RetryPolicy.from_settings(settings)
        )
    finally:
        await provider.aclose()


@pytest.mark.parametrize(("name", "api"), APIS)
@pytest.mark.parametrize("fault", ["429", "500", "503", "html-502", "malformed"])
async def test_retryable_faults_are_retried_then_succeed(
    fake_api: FakeAPI, keys: dict[str, str], name: str, api: str, fault: str
) -> None:
    fake_api.script(api, fault, fault)
    completion = await _retried(make_settings(fake_api.url, max_retries=2), name)
    assert completion.text.endswith("42.")
    assert fake_api.count(api) == 3  # two faults, then the answer


@pytest.mark.parametrize(("name", "api"), APIS)
async def test_retries_stop_after_max_retries_and_say_so(
    fake_api: FakeAPI, keys: dict[str, str], name: str, api: str
) -> None:
    fake_api.dead.add(api)
    with pytest.raises(ProviderError, match=r"500: .*\(after 2 attempts\)") as caught:
        await _retried(make_settings(fake_api.url, max_retries=1), name)
    assert caught.value.reason == "server" and caught.value.status == 500
    assert fake_api.count(api) == 2  # the first try and one retry, no more


@pytest.mark.parametrize(("name", "api"), APIS)
async def test_each_sdk_makes_one_attempt_per_call(
    fake_api: FakeAPI, keys: dict[str, str], name: str, api: str
) -> None:
    """The SDKs' own retries are off: retries are the harness's, one policy for all three."""
    fake_api.dead.add(api)
    settings = make_settings(fake_api.url, max_retries=3)
    model = resolve_model(name, settings)
    provider = build_provider(model.provider, settings)
    with pytest.raises(ProviderError):
        try:
            await provider.complete(_request(model.model))
        finally:
            await provider.aclose()
    assert fake_api.count(api) == 1


@pytest.mark.parametrize(("name", "api"), APIS)
async def test_slow_response_times_out_and_is_retried(
    fake_api: FakeAPI, keys: dict[str, str], name: str, api: str
) -> None:
    fake_api.slow_s = 0.8
    fake_api.script(api, "slow")
    completion = await _retried(make_settings(fake_api.url, timeout_s=0.3, max_retries=1), name)
    assert completion.text.endswith("42.")
    assert fake_api.count(api) == 2


@pytest.mark.parametrize(("name", "api"), APIS)
async def test_retry_after_is_honoured(
    fake_api: FakeAPI, keys: dict[str, str], name: str, api: str
) -> None:
    fake_api.retry_after_s = 0.4
    fake_api.script(api, "429-wait")
    completion = await _retried(make_settings(fake_api.url, max_retries=1), name)
    assert completion.text.endswith("42.")
    first, second = fake_api.times(api)
    assert second - first >= 0.4  # waited as asked (backoff alone would be 0.005 s)


@pytest.mark.parametrize(("name", "api"), APIS)
async def test_a_retry_after_past_the_cap_fails_at_once(
    fake_api: FakeAPI, keys: dict[str, str], name: str, api: str
) -> None:
    fake_api.retry_after_s = 3600
    fake_api.always[api] = "429-wait"
    settings = make_settings(fake_api.url, max_retries=3, retry_after_max_s=5)
    with pytest.raises(ProviderError, match="asked to wait 3600 s, longer than retry_after_max_s"):
        await _retried(settings, name)
    assert fake_api.count(api) == 1


@pytest.mark.parametrize(("name", "api"), [("claude", "anthropic"), ("gemini", "gemini")])
async def test_count_tokens_api(
    fake_api: FakeAPI, keys: dict[str, str], name: str, api: str
) -> None:
    settings = make_settings(fake_api.url)
    model = resolve_model(name, settings)
    provider = build_provider(model.provider, settings)
    try:
        assert await provider.count_tokens("one two three four", model.model) == 4
    finally:
        await provider.aclose()
    assert fake_api.count(api, kind="count") == 1


async def test_openai_compatible_endpoint_needs_no_key(fake_api: FakeAPI) -> None:
    settings = make_settings(fake_api.url)
    model = resolve_model("local:llama3.1", settings)
    assert (model.kind, model.input_usd_per_mtok) == ("openai-compatible", 0.0)
    provider = build_provider(model.provider, settings, env={})
    try:
        completion = await provider.complete(_request(model.model))
    finally:
        await provider.aclose()
    assert completion.text.endswith("42.")
    headers = {k.lower(): v for k, v in fake_api.requests[0].headers.items()}
    assert headers.get("authorization", "Bearer not-needed") == "Bearer not-needed"
