"""The remote engine: the generative engine's contract over any OpenAI-compatible endpoint.

A vLLM server with LoRA adapters (``--lora-modules name=path``: the adapter is the model name),
a llama.cpp server, Ollama or LM Studio: same prompt (the training system prompt and
``Compress:\\n<input>``), greedy decoding (``temperature=0``), an output cap from the input size
and rate, and the same fact guard. Configured by ``GenerativeSettings.remote_*``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from compression_layer.compress.generative.guard import extractive_fallback, guard_output
from compression_layer.compress.generative.prompt import messages_for, output_cap, strip_thinking
from compression_layer.compress.types import CompressRequest, Domain, Engine, EngineOutput
from compression_layer.errors import ConfigError, EngineError
from compression_layer.settings import CompressSettings, GenerativeSettings, load_area

_PLACEHOLDER_KEY = "not-needed"  # local servers ignore the key, but the SDK insists on one


class RemoteEngine:
    """Compress through ``settings.remote_base_url`` serving ``settings.remote_model``."""

    name = "remote"

    def __init__(
        self,
        settings: GenerativeSettings | None = None,
        compress_settings: CompressSettings | None = None,
        fallback: Callable[[], Engine] | None = None,
    ) -> None:
        self.settings = cfg = settings or load_area(GenerativeSettings)
        if not cfg.remote_base_url or not cfg.remote_model:
            raise ConfigError(
                "the remote engine needs remote_base_url and remote_model (generative.yaml in the "
                "config dir "
                "or COMPRESSION_LAYER_GENERATIVE__REMOTE_BASE_URL / __REMOTE_MODEL)"
            )
        self.base_url: str = cfg.remote_base_url
        self.model: str = cfg.remote_model
        self.adapter_name = self.model
        cs = compress_settings or load_area(CompressSettings)
        self.fallback: Callable[[], Engine] = fallback or (lambda: extractive_fallback(cs))
        try:
            from openai import OpenAI
        except ImportError as exc:
            raise EngineError(
                "the remote engine needs the openai SDK: pip install 'compression-layer[apis]'"
            ) from exc
        self.client = OpenAI(
            base_url=self.base_url,
            api_key=self._api_key(),
            timeout=cfg.remote_timeout_s,
            max_retries=cfg.remote_max_retries,
        )

    def _api_key(self) -> str:
        env = self.settings.remote_api_key_env
        if env is None:
            return _PLACEHOLDER_KEY
        key = os.environ.get(env)
        if not key:
            raise ConfigError(f"remote_api_key_env names {env}, but that variable is not set")
        return key

    def generate(self, text: str, request: CompressRequest) -> str:
        """One greedy chat completion of the compression prompt for ``text``."""
        from openai import OpenAIError

        from compression_layer.tokens import count_tokens

        cap = output_cap(count_tokens(text), request, self.settings)
        try:
            response: Any = self.client.chat.completions.create(
                model=self.model,
                messages=messages_for(text),  # type: ignore[arg-type]
                temperature=0.0,
                max_tokens=cap,
            )
        except OpenAIError as exc:
            raise EngineError(f"remote engine at {self.base_url} ({self.model}): {exc}") from exc
        if not response.choices:
            raise EngineError(f"remote engine at {self.base_url} returned no choices")
        content = response.choices[0].message.content or ""
        return strip_thinking(content)

    def run(self, text: str, domain: Domain, request: CompressRequest) -> EngineOutput:
        """Compress ``text`` remotely; the guard's action (if any) is in the notes."""
        out = EngineOutput(self.generate(text, request), self.name, self.adapter_name)
        return guard_output(text, out, domain, request, self.settings, self.fallback)
