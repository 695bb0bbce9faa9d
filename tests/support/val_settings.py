"""Validation settings pointing every provider at a fake API, and a cheap similarity."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from compression_layer.settings import ValidationModel, ValidationProvider, ValidationSettings
from val_fake_api import FakeAPI, start

KEYS = {
    "ANTHROPIC_API_KEY": "sk-ant-test-SECRET-a1b2c3",
    "OPENAI_API_KEY": "sk-openai-test-SECRET-d4e5f6",
    "GEMINI_API_KEY": "gemini-test-SECRET-g7h8i9",
}


def make_settings(url: str, **overrides: object) -> ValidationSettings:
    """Settings whose four providers all point at ``url``; fast retries, tiny timeouts."""
    values: dict[str, object] = {
        "threshold": 0.8,
        "budget_usd": 1.0,
        "concurrency": 2,
        "timeout_s": 2.0,
        "max_retries": 2,
        "retry_initial_delay_s": 0.005,
        "max_tokens": 50,
        "providers": {
            "anthropic": ValidationProvider(
                kind="anthropic", base_url=url, api_key_env="ANTHROPIC_API_KEY"
            ),
            "openai": ValidationProvider(
                kind="openai", base_url=f"{url}/v1", api_key_env="OPENAI_API_KEY"
            ),
            "gemini": ValidationProvider(kind="gemini", base_url=url, api_key_env="GEMINI_API_KEY"),
            "local": ValidationProvider(kind="openai-compatible", base_url=f"{url}/v1"),
        },
        "catalog": {
            "claude": ValidationModel(
                provider="anthropic",
                model="claude-haiku-4-5",
                input_usd_per_mtok=1.0,
                output_usd_per_mtok=5.0,
            ),
            "gpt": ValidationModel(
                provider="openai",
                model="gpt-4.1-mini",
                input_usd_per_mtok=0.4,
                output_usd_per_mtok=1.6,
            ),
            "gemini": ValidationModel(
                provider="gemini",
                model="gemini-2.5-flash",
                input_usd_per_mtok=0.3,
                output_usd_per_mtok=2.5,
            ),
        },
    }
    values.update(overrides)
    return ValidationSettings(**values)  # type: ignore[arg-type]


def jaccard(a: str, b: str) -> float:
    """A cheap stand-in for MiniLM in harness tests: word-set overlap."""
    wa, wb = set(re.findall(r"\w+", a.lower())), set(re.findall(r"\w+", b.lower()))
    return len(wa & wb) / len(wa | wb) if wa | wb else 1.0


@pytest.fixture
def fake_api() -> Iterator[FakeAPI]:
    """A running fake of the three APIs on a free loopback port."""
    fake = FakeAPI()
    server = start(fake)
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def settings(fake_api: FakeAPI) -> ValidationSettings:
    return make_settings(fake_api.url)


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Fake API keys in the environment (the SDKs read nothing else: base URLs are explicit)."""
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    return dict(KEYS)
