"""Name-keyed registry of provider kinds, and resolution of model names to providers.

A *kind* is an implementation (``anthropic``, ``openai``, ``gemini``, ``openai-compatible``); a
*provider* is a configured endpoint of a kind (``providers:`` of the validation settings); a
*model name* is a catalog key (``claude``, ``gpt-4.1-mini``) or ``provider:model-id``.
Each kind's module imports its SDK only when a client is first needed, so this registry imports
nothing optional.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from compression_layer.errors import ConfigError
from compression_layer.settings import ValidationSettings
from compression_layer.validation.errors import MissingKeyError, UnknownModelError
from compression_layer.validation.providers.anthropic_api import AnthropicProvider
from compression_layer.validation.providers.base import (
    Completion,
    CompletionRequest,
    Provider,
    ProviderConfig,
)
from compression_layer.validation.providers.gemini_api import GeminiProvider
from compression_layer.validation.providers.openai_api import OpenAIProvider

__all__ = [
    "Completion",
    "CompletionRequest",
    "Provider",
    "ProviderConfig",
    "ResolvedModel",
    "build_provider",
    "provider_kinds",
    "register_provider",
    "resolve_model",
]

ProviderFactory = Callable[[ProviderConfig], Provider]

_KINDS: dict[str, ProviderFactory] = {
    "anthropic": AnthropicProvider,
    "openai": OpenAIProvider,
    "openai-compatible": OpenAIProvider,
    "gemini": GeminiProvider,
}

# Kinds that may run without a price in the catalog: they are local and free.
_FREE_KINDS = frozenset({"openai-compatible"})


def register_provider(kind: str, factory: ProviderFactory) -> None:
    """Add (or replace) a provider kind; ``factory(config)`` must return a :class:`Provider`."""
    _KINDS[kind] = factory


def provider_kinds() -> list[str]:
    """The registered provider kinds, sorted."""
    return sorted(_KINDS)


@dataclass(frozen=True)
class ResolvedModel:
    """A requested model name, bound to its provider, API id and prices."""

    name: str
    provider: str
    kind: str
    model: str
    input_usd_per_mtok: float
    output_usd_per_mtok: float

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        """USD for a call with this usage."""
        return (
            input_tokens * self.input_usd_per_mtok + output_tokens * self.output_usd_per_mtok
        ) / 1_000_000


def resolve_model(name: str, settings: ValidationSettings) -> ResolvedModel:
    """Bind ``name`` (catalog key or ``provider:model-id``) to its provider; errors list choices."""
    name = name.strip()
    entry = settings.catalog.get(name)
    if entry is not None:
        provider_name, api_id = entry.provider, entry.model
        prices: tuple[float, float] | None = (entry.input_usd_per_mtok, entry.output_usd_per_mtok)
    elif ":" in name:
        provider_name, api_id = name.split(":", 1)
        prices = next(
            (
                (e.input_usd_per_mtok, e.output_usd_per_mtok)
                for e in settings.catalog.values()
                if e.provider == provider_name and e.model == api_id
            ),
            None,
        )
    else:
        known = ", ".join(sorted(settings.catalog)) or "(the catalog is empty)"
        raise UnknownModelError(
            f"unknown model {name!r}: known names are {known}; or use 'provider:model-id' with a "
            f"configured provider ({', '.join(sorted(settings.providers))}); "
            "`compression-layer config show validation` lists both"
        )
    provider = settings.providers.get(provider_name)
    if provider is None:
        raise UnknownModelError(
            f"model {name!r} names provider {provider_name!r}, which is not configured; "
            f"configured providers: {', '.join(sorted(settings.providers)) or '(none)'}"
        )
    if provider.kind not in _KINDS:
        raise ConfigError(
            f"provider {provider_name!r} has kind {provider.kind!r}; known kinds: "
            f"{', '.join(provider_kinds())}"
        )
    if prices is None:
        if provider.kind not in _FREE_KINDS:
            raise UnknownModelError(
                f"no price known for {name!r}: add it to the catalog in validation.yaml in the "
                "config dir (`compression-layer config path`) so the budget can be enforced"
            )
        prices = (0.0, 0.0)
    return ResolvedModel(name, provider_name, provider.kind, api_id, prices[0], prices[1])


def build_provider(
    provider_name: str, settings: ValidationSettings, env: Mapping[str, str] | None = None
) -> Provider:
    """Create the configured provider; raises :class:`MissingKeyError` naming the env var."""
    env = os.environ if env is None else env
    entry = settings.providers.get(provider_name)
    if entry is None:
        raise UnknownModelError(f"provider {provider_name!r} is not configured")
    factory = _KINDS.get(entry.kind)
    if factory is None:
        raise ConfigError(f"unknown provider kind {entry.kind!r}; known: {provider_kinds()}")
    key: str | None = None
    if entry.api_key_env:
        key = env.get(entry.api_key_env) or None
        if key is None:
            raise MissingKeyError(provider_name, entry.api_key_env)
    config = ProviderConfig(
        name=provider_name,
        kind=entry.kind,
        base_url=entry.base_url,
        api_key=key,
        timeout_s=settings.timeout_s,
        max_retries=settings.max_retries,
        retry_initial_delay_s=settings.retry_initial_delay_s,
        key_env=entry.api_key_env,
    )
    return factory(config)
