"""Provider faults in words, through each real SDK against the fake server (or no server).

One table: each fault, the ``reason`` it is filed under and what the message must say, for the
Anthropic, OpenAI and Gemini SDKs alike (a cell may differ per API where the APIs differ). The
key is set in the environment and echoed by the fake's 401; it must never reach a message.
"""

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
from val_fake_api import UNRESOLVABLE_URL, FakeAPI, closed_port_url
from val_settings import KEYS, make_settings

APIS = [("claude", "anthropic"), ("gpt", "openai"), ("gemini", "gemini")]
ENV = {"anthropic": "ANTHROPIC_API_KEY", "openai": "OPENAI_API_KEY", "gemini": "GEMINI_API_KEY"}
COMPATIBLE = {"anthropic": "an Anthropic", "openai": "an OpenAI", "gemini": "a Gemini"}
PER_API = dict[str, str]

# fault -> (reason, what every message says, what each API's message says)
TABLE: dict[str, tuple[str, list[str], PER_API]] = {
    "401": ("auth", ["401 Unauthorized", "{env} was rejected", "invalid key ***"], {}),
    "403": ("forbidden", ["403 Forbidden", "{env} may not use '{model}'"], {}),
    "404": ("not_found", ["404 Not Found: model '{model}' is not available", "config show"], {}),
    "429": ("rate_limited", ["429 Too Many Requests", "(after 2 attempts)"], {}),
    "500": ("server", ["500: the API failed or is overloaded", "(after 2 attempts)"], {}),
    "503": ("server", ["503: the API failed or is overloaded", "server said: overloaded"], {}),
    "html-502": ("server", ["502 from a gateway", "HTML page titled '502 Bad Gateway'"], {}),
    "malformed": ("bad_response", ["JSON cut off after 31 characters", "{compatible}"], {}),
    "html": ("bad_response", ["HTML page titled 'Sign in - Corporate Proxy'", "{compatible}"], {}),
    "string": (
        "bad_response",
        ["{compatible}-compatible API?"],
        {
            "anthropic": "a bare string ('OK') where a JSON object was expected",
            "openai": "a bare string ('OK') where a JSON object was expected",
            "gemini": "a response without 'candidates'",
        },
    ),
    "missing": (
        "bad_response",
        ["{compatible}-compatible API?"],
        {
            "anthropic": "a response without 'content'",
            "openai": "a response without 'choices'",
            "gemini": "a response without 'candidates'",
        },
    ),
    "wrong-type": (
        "bad_response",
        ["{compatible}-compatible API?"],
        {
            "anthropic": "'content' as a string, not the expected object or list",
            "openai": "'choices[0]' as a string, not the expected object or list",
            "gemini": "a response whose 'usage_metadata' has an unexpected type",
        },
    ),
    "hang": ("timeout", ["no response from {url}", "within timeout_s (0.3 s)"], {}),
    "refused": ("connection", ["connection refused by {url}", "is the server running"], {}),
    "dns": ("dns", ["could not resolve the host name 'api.compression-layer-test.invalid'"], {}),
}


def _url_for(fault: str, fake: FakeAPI) -> str:
    return {"refused": closed_port_url(), "dns": UNRESOLVABLE_URL}.get(fault, fake.url)


def _settings(url: str) -> ValidationSettings:
    return make_settings(url, timeout_s=0.3, max_retries=1, retry_initial_delay_s=0.005)


@pytest.mark.parametrize(("name", "api"), APIS, ids=[a for _, a in APIS])
@pytest.mark.parametrize("fault", list(TABLE))
async def test_fault_is_named_in_words(
    fake_api: FakeAPI, keys: dict[str, str], name: str, api: str, fault: str
) -> None:
    fake_api.echo_key_on_401 = True
    if fault not in ("refused", "dns"):
        fake_api.always[api] = fault
    settings = _settings(_url_for(fault, fake_api))
    model = resolve_model(name, settings)
    provider = build_provider(model.provider, settings)
    request = CompletionRequest(model=model.model, system="s", prompt="p", max_tokens=5)
    try:
        with pytest.raises(ProviderError) as caught:
            await with_retries(
                lambda: provider.complete(request), RetryPolicy.from_settings(settings)
            )
    finally:
        await provider.aclose()
    error = caught.value
    reason, common, per_api = TABLE[fault]
    url = provider.config.base_url or ""
    words = {"env": ENV[api], "model": model.model, "url": url, "compatible": COMPATIBLE[api]}
    message = str(error)
    assert message.startswith(f"{model.provider}/{model.model}: ")
    assert error.reason == reason, message
    for fragment in [*common, *([per_api[api]] if api in per_api else [])]:
        assert fragment.format(**words) in message
    assert "Traceback" not in message and "object has no attribute" not in message
    for key in KEYS.values():
        assert key not in message


@pytest.mark.parametrize(("name", "api"), APIS, ids=[a for _, a in APIS])
async def test_count_tokens_faults_are_in_words_too(
    fake_api: FakeAPI, keys: dict[str, str], name: str, api: str
) -> None:
    if api == "openai":
        pytest.skip("OpenAI counts offline (public tokenizers)")
    fake_api.always[api] = "html"
    settings = _settings(fake_api.url)
    model = resolve_model(name, settings)
    provider = build_provider(model.provider, settings)
    try:
        with pytest.raises(ProviderError, match="HTML page titled 'Sign in - Corporate Proxy'"):
            await provider.count_tokens("one two", model.model)
    finally:
        await provider.aclose()
