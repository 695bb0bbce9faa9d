"""OpenAI Chat Completions through ``openai.AsyncOpenAI``; also any OpenAI-compatible server.

vLLM, llama.cpp server, Ollama and LM Studio speak the same wire format, so the
``openai-compatible`` kind is this class pointed at their base URL (the key is optional there).
"""

from __future__ import annotations

from typing import Any

from compression_layer.validation.errors import MissingExtraError
from compression_layer.validation.providers.base import (
    Completion,
    CompletionRequest,
    ProviderConfig,
)

# Local servers ignore the key, but the SDK refuses to start without one.
_PLACEHOLDER_KEY = "not-needed"


class OpenAIProvider:
    """GPT models, or a local model behind an OpenAI-compatible endpoint."""

    def __init__(self, config: ProviderConfig) -> None:
        self.config = config
        self._client: Any = None

    def _sdk(self) -> Any:
        if self._client is None:
            try:
                import openai
            except ImportError as exc:
                raise MissingExtraError("openai") from exc
            kwargs: dict[str, Any] = {
                "api_key": self.config.api_key or _PLACEHOLDER_KEY,
                "timeout": self.config.timeout_s,
                "max_retries": self.config.max_retries,
            }
            if self.config.base_url:
                kwargs["base_url"] = self.config.base_url
            self._client = openai.AsyncOpenAI(**kwargs)
        return self._client

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
            choice = response.choices[0]
            usage = response.usage
            return Completion(
                text=choice.message.content or "",
                input_tokens=int(usage.prompt_tokens) if usage else 0,
                output_tokens=int(usage.completion_tokens) if usage else 0,
            )
        except Exception as exc:  # any SDK or decoding failure, after the SDK's retries
            raise self.config.error(request.model, exc) from None

    async def count_tokens(self, text: str, model: str) -> int | None:
        # OpenAI tokenizers are public: tokens.count() is already exact offline.
        return None

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None
