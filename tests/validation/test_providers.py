"""Each provider's real SDK against the fake server: answers, retries, timeouts, bad bodies."""

from __future__ import annotations

import pytest

from compression_layer.validation.errors import ProviderError
from compression_layer.validation.providers import (
    CompletionRequest,
    build_provider,
    resolve_model,
)
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


@pytest.mark.parametrize(("name", "api"), APIS)
@pytest.mark.parametrize("fault", ["429", "500"])
async def test_sdk_retries_then_succeeds(
    fake_api: FakeAPI, keys: dict[str, str], name: str, api: str, fault: str
) -> None:
    fake_api.script(api, fault, fault)
    settings = make_settings(fake_api.url, max_retries=2)
    model = resolve_model(name, settings)
    provider = build_provider(model.provider, settings)
    try:
        completion = await provider.complete(_request(model.model))
    finally:
        await provider.aclose()
    assert completion.text.endswith("42.")
    assert fake_api.count(api) == 3  # two faults, then the answer


@pytest.mark.parametrize(("name", "api"), APIS)
async def test_retries_stop_after_max_retries(
    fake_api: FakeAPI, keys: dict[str, str], name: str, api: str
) -> None:
    fake_api.dead.add(api)
    settings = make_settings(fake_api.url, max_retries=1)
    model = resolve_model(name, settings)
    provider = build_provider(model.provider, settings)
    with pytest.raises(ProviderError, match=model.provider):
        try:
            await provider.complete(_request(model.model))
        finally:
            await provider.aclose()
    assert fake_api.count(api) == 2  # the first try and one retry, no more


@pytest.mark.parametrize(("name", "api"), [("gpt", "openai"), ("gemini", "gemini")])
async def test_slow_response_times_out_and_is_retried(
    fake_api: FakeAPI, keys: dict[str, str], name: str, api: str
) -> None:
    fake_api.slow_s = 0.8
    fake_api.script(api, "slow")
    settings = make_settings(fake_api.url, timeout_s=0.3, max_retries=1)
    model = resolve_model(name, settings)
    provider = build_provider(model.provider, settings)
    try:
        completion = await provider.complete(_request(model.model))
    finally:
        await provider.aclose()
    assert completion.text.endswith("42.")
    assert fake_api.count(api) == 2


@pytest.mark.parametrize(("name", "api"), APIS)
async def test_malformed_json_is_a_provider_error(
    fake_api: FakeAPI, keys: dict[str, str], name: str, api: str
) -> None:
    fake_api.script(api, "malformed")
    settings = make_settings(fake_api.url, max_retries=0)
    model = resolve_model(name, settings)
    provider = build_provider(model.provider, settings)
    with pytest.raises(ProviderError):
        try:
            await provider.complete(_request(model.model))
        finally:
            await provider.aclose()


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
