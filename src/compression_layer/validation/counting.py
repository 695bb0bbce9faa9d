"""Exact Claude and Gemini token counts through their count-tokens APIs.

``tokens.count`` estimates Claude and Gemini counts offline unless an exact counter is registered
for the family. :func:`register_exact_counters` plugs the providers' count-tokens endpoints in
(synchronous SDK clients, since ``tokens.register_exact_counter`` takes a sync callable) for each
family whose key is set; :func:`exact_count` is the async path for code already in an event loop.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Mapping
from typing import Any

from compression_layer.settings import ValidationSettings, load_area
from compression_layer.tokens import TokenCount, model_family, register_exact_counter
from compression_layer.validation.errors import MissingExtraError
from compression_layer.validation.providers import build_provider, resolve_model
from compression_layer.validation.retry import RetryPolicy, with_retries

_FAMILY_KIND = {"claude": "anthropic", "gemini": "gemini"}


def _api_model(name: str, family: str, settings: ValidationSettings) -> tuple[str, str]:
    """(provider name, API model id) for a model name as ``tokens.count`` receives it."""
    if name in settings.catalog:
        resolved = resolve_model(name, settings)
        return resolved.provider, resolved.model
    kind = _FAMILY_KIND[family]
    provider = next(p for p, e in settings.providers.items() if e.kind == kind)
    if name.lower() in (family, "anthropic", "google"):
        # A bare family name: count with the catalog's model of that family, if any.
        entry = settings.catalog.get(family)
        return provider, entry.model if entry else name
    return provider, name


def _sync_counter(
    family: str, settings: ValidationSettings, env: Mapping[str, str]
) -> Callable[[str, str], int]:
    kind = _FAMILY_KIND[family]
    provider_name = next(p for p, e in settings.providers.items() if e.kind == kind)
    entry = settings.providers[provider_name]
    key = env.get(entry.api_key_env or "", "") or None
    clients: dict[str, Any] = {}
    memo: dict[tuple[str, str], int] = {}
    lock = threading.Lock()

    def client() -> Any:
        with lock:
            if "c" not in clients:
                try:
                    if kind == "anthropic":
                        import anthropic

                        clients["c"] = anthropic.Anthropic(
                            api_key=key, base_url=entry.base_url, timeout=settings.timeout_s,
                            max_retries=settings.max_retries,
                        )  # fmt: skip
                    else:
                        from google import genai
                        from google.genai import types

                        http = types.HttpOptions(
                            base_url=entry.base_url, timeout=round(settings.timeout_s * 1000)
                        )
                        clients["c"] = genai.Client(api_key=key, http_options=http)
                except ImportError as exc:
                    raise MissingExtraError(
                        "anthropic" if kind == "anthropic" else "google-genai"
                    ) from exc
            return clients["c"]

    def count(text: str, model: str) -> int:
        _, api_model = _api_model(model, family, settings)
        digest = (hashlib.sha256(text.encode("utf-8")).hexdigest(), api_model)
        if digest in memo:
            return memo[digest]
        if kind == "anthropic":
            result = client().messages.count_tokens(
                model=api_model, messages=[{"role": "user", "content": text}]
            )
            value = int(result.input_tokens)
        else:
            value = int(client().models.count_tokens(model=api_model, contents=text).total_tokens)
        memo[digest] = value
        return value

    return count


def register_exact_counters(
    settings: ValidationSettings | None = None, env: Mapping[str, str] | None = None
) -> list[str]:
    """Register exact counters for the families whose key is set; returns those families."""
    settings = settings or load_area(ValidationSettings)
    env = os.environ if env is None else env
    registered: list[str] = []
    for family, kind in _FAMILY_KIND.items():
        entry = next((e for e in settings.providers.values() if e.kind == kind), None)
        if entry is None or not env.get(entry.api_key_env or ""):
            continue
        register_exact_counter(family, _sync_counter(family, settings, env))
        registered.append(family)
    return registered


async def exact_count(
    text: str,
    model: str,
    settings: ValidationSettings | None = None,
    env: Mapping[str, str] | None = None,
) -> TokenCount:
    """Exact tokens of ``text`` for a Claude or Gemini model name, through the async SDK."""
    settings = settings or load_area(ValidationSettings)
    family = model_family(model if model not in settings.catalog else settings.catalog[model].model)
    if family not in _FAMILY_KIND:
        from compression_layer.tokens import count

        return count(text, model)
    provider_name, api_model = _api_model(model, family, settings)
    provider = build_provider(provider_name, settings, env)
    try:
        tokens = await with_retries(
            lambda: provider.count_tokens(text, api_model), RetryPolicy.from_settings(settings)
        )
    finally:
        await provider.aclose()
    return TokenCount(model=model, encoding=f"{family}-api", tokens=int(tokens or 0))
