"""What every provider is: a request in, a completion (text + token usage) out.

A provider makes one attempt per call (its SDK's own retries are off): the harness retries with
one policy for every SDK (:mod:`compression_layer.validation.retry`), so Retry-After, backoff and
the deadlines behave the same whichever API is behind the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from compression_layer.validation.errors import ProviderError, redact
from compression_layer.validation.providers.faults import describe_exception


@dataclass(frozen=True)
class CompletionRequest:
    """One chat call. ``model`` is the provider's API id; temperature 0 keeps answers comparable."""

    model: str
    system: str
    prompt: str
    max_tokens: int
    temperature: float = 0.0


@dataclass(frozen=True)
class Completion:
    """The answer and the token usage the provider billed for it."""

    text: str
    input_tokens: int
    output_tokens: int


@dataclass(frozen=True)
class ProviderConfig:
    """Everything a provider needs to build its SDK client; no network in construction.

    ``api_key`` is read from the environment by the registry (``key_env`` names the variable, for
    messages); ``repr`` hides the key so it cannot leak through a log line or a traceback.
    ``max_retries`` and ``retry_initial_delay_s`` are the harness's retry policy; the SDK clients
    are built with their own retries off.
    """

    name: str
    kind: str
    base_url: str | None
    api_key: str | None
    timeout_s: float
    max_retries: int
    retry_initial_delay_s: float = 1.0
    key_env: str | None = None

    def __repr__(self) -> str:
        return (
            f"ProviderConfig(name={self.name!r}, kind={self.kind!r}, base_url={self.base_url!r}, "
            f"api_key={'***' if self.api_key else None}, timeout_s={self.timeout_s}, "
            f"max_retries={self.max_retries})"
        )

    def error(self, model: str, problem: BaseException | str, **fields: Any) -> ProviderError:
        """A :class:`ProviderError` in words for an exception or a message; the key scrubbed."""
        if isinstance(problem, BaseException):
            return describe_exception(self, model, problem)
        text = redact(problem, [self.api_key or ""])
        return ProviderError(self.name, model, text, **fields)


class Provider(Protocol):
    """A chat endpoint. Implementations import their SDK lazily and make one attempt per call.

    They may also offer ``prepare()``: import the SDK and build the client now. The harness calls
    it in a worker thread before the first call, so a cold SDK import (seconds) never stalls the
    event loop that keeps the deadlines.
    """

    config: ProviderConfig

    async def complete(self, request: CompletionRequest) -> Completion:
        """Run one attempt; raise :class:`ProviderError` (in words) when it fails."""
        ...

    async def count_tokens(self, text: str, model: str) -> int | None:
        """Exact input tokens from the provider's API, or ``None`` where it has none."""
        ...

    async def aclose(self) -> None:
        """Release the HTTP client."""
        ...
