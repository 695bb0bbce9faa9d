"""OpenAI Chat Completions through ``openai.AsyncOpenAI``; also any OpenAI-compatible server.

vLLM, llama.cpp server, Ollama and LM Studio speak the same wire format, so the
``openai-compatible`` kind is this class pointed at their base URL (the key is optional there).
One attempt per call: the SDK's retries are off, the harness retries.
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

# Local servers ignore the key, but the SDK refuses to start without one.
_PLACEHOLDER_KEY = "not-needed"


class OpenAIProvider:
    """GPT models, or a local model behind an OpenAI-compatible endpoint."""

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
                import openai
            except ImportError as exc:
                raise MissingExtraError("openai") from exc
            kwargs: dict[str, Any] = {
                "api_key": self.config.api_key or _PLACEHOLDER_KEY,
                "timeout": self.config.timeout_s,
                "max_retries": 0,
            }
            if self.config.base_url:
                kwargs["base_url"] = self.config.base_url
            self._client = openai.AsyncOpenAI(**kwargs)
        return self._client

    def prepare(self) -> None:
        """Import the SDK and build its client now (the harness does it off the event loop)."""
        self._sdk()

    def _read(self, model: str, response: Any) -> Completion:
        check_object(self.config, model, response)
        choices = field(response, "choices")
        if not isinstance(choices, list):
            raise missing(self.config, model, "choices", choices)
        if not choices:
            raise self.config.error(
                model, "the endpoint returned no choices (an empty 'choices' list)",
                reason="bad_response",
            )  # fmt: skip
        choice = choices[0]
        if isinstance(choice, str):
            raise missing(self.config, model, "choices[0]", choice)
        message = field(choice, "message")
        if message is None or isinstance(message, str):
            raise missing(self.config, model, "choices[0].message", message)
        content = field(message, "content")
        if content is not None and not isinstance(content, str):
            raise missing(self.config, model, "choices[0].message.content", content)
        n_in, n_out = usage_tokens(field(response, "usage"), "prompt_tokens", "completion_tokens")
        return Completion(text=content or "", input_tokens=n_in, output_tokens=n_out)

    async def complete(self, request: CompletionRequest) -> Completion:
        client = self._sdk()
        try:
            response = await client.chat.completions.create(
                model=request.model,
                temperature=request.temperature,
                max_tokens=request.max_tokens,
                messages=[
                    {"role": "system", "content": request.system},
                    {"role": "user", "content": request.prompt},
                ],
            )
            return self._read(request.model, response)
        except ProviderError:
            raise
        except Exception as exc:  # any SDK or decoding failure, in words
            raise self.config.error(request.model, exc) from None

    async def count_tokens(self, text: str, model: str) -> int | None:
        # OpenAI tokenizers are public: tokens.count() is already exact offline.
        return None

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None
