"""Gemini generateContent through ``google-genai``'s async client (``client.aio``).

One attempt per call: the SDK's ``HttpRetryOptions`` is set to a single attempt and the harness
retries, so Retry-After is honoured here as for the other two SDKs (google-genai ignores it).
"""

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


class GeminiProvider:
    """Gemini models; exact token counts from ``:countTokens``."""

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
                from google import genai
                from google.genai import types
            except ImportError as exc:
                raise MissingExtraError("google-genai") from exc
            http = types.HttpOptions(
                base_url=self.config.base_url,
                timeout=max(1, round(self.config.timeout_s * 1000)),
                retry_options=types.HttpRetryOptions(attempts=1),
            )
            self._client = genai.Client(api_key=self.config.api_key, http_options=http)
        return self._client

    def prepare(self) -> None:
        """Import the SDK and build its client now (the harness does it off the event loop)."""
        self._sdk()

    def _read(self, model: str, response: Any) -> Completion:
        check_object(self.config, model, response)
        candidates = field(response, "candidates")
        if not candidates:
            blocked = field(field(response, "prompt_feedback"), "block_reason")
            if blocked:
                raise self.config.error(
                    model, f"Gemini blocked the prompt ({blocked}); no answer was produced",
                    reason="bad_request",
                )  # fmt: skip
            raise missing(self.config, model, "candidates", None)
        candidate = candidates[0]
        content = field(candidate, "content")
        if content is None and field(candidate, "finish_reason") is None:
            raise missing(self.config, model, "candidates[0].content", None)
        parts = field(content, "parts") if content is not None else None
        # Thought parts (``thought: true``) are the model's reasoning, not its answer.
        answer = "".join(
            str(field(part, "text") or "") for part in parts or [] if not field(part, "thought")
        )
        n_in, n_out = usage_tokens(
            field(response, "usage_metadata"), "prompt_token_count", "candidates_token_count"
        )
        return Completion(text=answer, input_tokens=n_in, output_tokens=n_out)

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
            return self._read(request.model, response)
        except ProviderError:
            raise
        except Exception as exc:  # any SDK or decoding failure, in words
            raise self.config.error(request.model, exc) from None

    async def count_tokens(self, text: str, model: str) -> int | None:
        client = self._sdk()
        try:
            counted = await client.aio.models.count_tokens(model=model, contents=text)
            check_object(self.config, model, counted)
            value = field(counted, "total_tokens")
            if not isinstance(value, int):
                raise missing(self.config, model, "totalTokens", value)
            return value
        except ProviderError:
            raise
        except Exception as exc:
            raise self.config.error(model, exc) from None

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aio.aclose()
            self._client = None
