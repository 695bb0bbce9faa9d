"""Gemini generateContent through ``google-genai``'s async client (``client.aio``).

Retries are the SDK's ``HttpRetryOptions`` (tenacity, exponential backoff on 408/429/5xx and
transport timeouts). Unlike the Anthropic and OpenAI SDKs it does not read ``Retry-After``; the
first delay comes from ``retry_initial_delay_s``.
"""

from __future__ import annotations

from typing import Any

from compression_layer.validation.errors import MissingExtraError
from compression_layer.validation.providers.base import (
    Completion,
    CompletionRequest,
    ProviderConfig,
)


class GeminiProvider:
    """Gemini models; exact token counts from ``:countTokens``."""

    def __init__(self, config: ProviderConfig) -> None:
        self.config = config
        self._client: Any = None

    def _sdk(self) -> Any:
        if self._client is None:
            try:
                from google import genai
                from google.genai import types
            except ImportError as exc:
                raise MissingExtraError("google-genai") from exc
            retry = types.HttpRetryOptions(
                attempts=self.config.max_retries + 1,
                initial_delay=self.config.retry_initial_delay_s,
                max_delay=max(self.config.retry_initial_delay_s * 8, 0.001),
                jitter=0.0,
            )
            http = types.HttpOptions(
                base_url=self.config.base_url,
                timeout=max(1, round(self.config.timeout_s * 1000)),
                retry_options=retry,
            )
            self._client = genai.Client(api_key=self.config.api_key, http_options=http)
        return self._client

    async def complete(self, request: CompletionRequest) -> Completion:
        from google.genai import types

        client = self._sdk()
        try:
            response = await client.aio.models.generate_content(
                model=request.model,
                contents=request.prompt,
                config=types.GenerateContentConfig(
                    system_instruction=request.system,
                    temperature=request.temperature,
                    max_output_tokens=request.max_tokens,
                ),
            )
            usage = response.usage_metadata
            return Completion(
                text=response.text or "",
                input_tokens=int(usage.prompt_token_count or 0) if usage else 0,
                output_tokens=int(usage.candidates_token_count or 0) if usage else 0,
            )
        except Exception as exc:  # any SDK or decoding failure, after the SDK's retries
            raise self.config.error(request.model, exc) from None

    async def count_tokens(self, text: str, model: str) -> int | None:
        client = self._sdk()
        try:
            counted = await client.aio.models.count_tokens(model=model, contents=text)
            return int(counted.total_tokens or 0)
        except Exception as exc:
            raise self.config.error(model, exc) from None

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aio.aclose()
            self._client = None
