"""Anthropic Messages API via ``anthropic.AsyncAnthropic``; retries and timeouts are the SDK's."""

from __future__ import annotations

from typing import Any

from compression_layer.validation.errors import MissingExtraError
from compression_layer.validation.providers.base import (
    Completion,
    CompletionRequest,
    ProviderConfig,
)


class AnthropicProvider:
    """Claude models; exact token counts from ``/v1/messages/count_tokens``.

    ``request.temperature`` is not sent: SDK 2.x speaks API version 2026-10-21, which rejects
    sampling parameters (temperature, top_p, top_k) with a 400, and the SDK no longer takes them.
    Repeat runs stay reproducible through the response cache instead.
    """

    def __init__(self, config: ProviderConfig) -> None:
        self.config = config
        self._client: Any = None

    def _sdk(self) -> Any:
        if self._client is None:
            try:
                import anthropic
            except ImportError as exc:
                raise MissingExtraError("anthropic") from exc
            kwargs: dict[str, Any] = {
                "api_key": self.config.api_key,
                "timeout": self.config.timeout_s,
                "max_retries": self.config.max_retries,
            }
            if self.config.base_url:
                kwargs["base_url"] = self.config.base_url
            self._client = anthropic.AsyncAnthropic(**kwargs)
        return self._client

    async def complete(self, request: CompletionRequest) -> Completion:
        client = self._sdk()
        try:
            message = await client.messages.create(
                model=request.model,
                max_tokens=request.max_tokens,
                system=request.system,
                messages=[{"role": "user", "content": request.prompt}],
            )
            text = "".join(
                getattr(block, "text", "") for block in message.content if block.type == "text"
            )
            return Completion(
                text=text,
                input_tokens=int(message.usage.input_tokens),
                output_tokens=int(message.usage.output_tokens),
            )
        except Exception as exc:  # any SDK or decoding failure, after the SDK's retries
            raise self.config.error(request.model, exc) from None

    async def count_tokens(self, text: str, model: str) -> int | None:
        client = self._sdk()
        try:
            counted = await client.messages.count_tokens(
                model=model, messages=[{"role": "user", "content": text}]
            )
            return int(counted.input_tokens)
        except Exception as exc:
            raise self.config.error(model, exc) from None

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None
