"""Anthropic Messages API via ``anthropic.AsyncAnthropic``: one attempt per call (no SDK retry)."""

from __future__ import annotations

import threading
from typing import Any

from compression_layer.validation.errors import MissingExtraError, ProviderError
from compression_layer.validation.providers.base import (
    Completion,
    CompletionRequest,
    ProviderConfig,
)
from compression_layer.validation.providers.faults import (
    check_object,
    field,
    missing,
    usage_tokens,
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
        self._lock = threading.Lock()  # prepare() may run in a thread while a call starts

    def _sdk(self) -> Any:
        with self._lock:
            return self._client if self._client is not None else self._build()

    def _build(self) -> Any:
        if self._client is None:
            try:
                import anthropic
            except ImportError as exc:
                raise MissingExtraError("anthropic") from exc
            kwargs: dict[str, Any] = {
                "api_key": self.config.api_key,
                "timeout": self.config.timeout_s,
                "max_retries": 0,
            }
            if self.config.base_url:
                kwargs["base_url"] = self.config.base_url
            self._client = anthropic.AsyncAnthropic(**kwargs)
        return self._client

    def prepare(self) -> None:
        """Import the SDK and build its client now (the harness does it off the event loop)."""
        self._sdk()

    def _read(self, model: str, message: Any) -> Completion:
        check_object(self.config, model, message)
        content = field(message, "content")
        if not isinstance(content, list):
            raise missing(self.config, model, "content", content)
        texts = []
        for block in content:
            if not isinstance(block, dict) and not hasattr(block, "type"):
                raise missing(self.config, model, "content[]", block)
            if field(block, "type") == "text":
                texts.append(str(field(block, "text") or ""))
        n_in, n_out = usage_tokens(field(message, "usage"), "input_tokens", "output_tokens")
        return Completion(text="".join(texts), input_tokens=n_in, output_tokens=n_out)

    async def complete(self, request: CompletionRequest) -> Completion:
        client = self._sdk()
        try:
            message = await client.messages.create(
                model=request.model,
                max_tokens=request.max_tokens,
                system=request.system,
                messages=[{"role": "user", "content": request.prompt}],
            )
            return self._read(request.model, message)
        except ProviderError:
            raise
        except Exception as exc:  # any SDK or decoding failure, in words
            raise self.config.error(request.model, exc) from None

    async def count_tokens(self, text: str, model: str) -> int | None:
        client = self._sdk()
        try:
            counted = await client.messages.count_tokens(
                model=model, messages=[{"role": "user", "content": text}]
            )
            check_object(self.config, model, counted)
            value = field(counted, "input_tokens")
            if not isinstance(value, int):
                raise missing(self.config, model, "input_tokens", value)
            return value
        except ProviderError:
            raise
        except Exception as exc:
            raise self.config.error(model, exc) from None

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None
