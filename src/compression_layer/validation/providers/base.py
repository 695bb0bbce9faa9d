"""What every provider is: a request in, a completion (text + token usage) out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from compression_layer.validation.errors import ProviderError, redact


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

    ``api_key`` is read from the environment by the registry; ``repr`` hides it so it cannot leak
    through a log line or a traceback.
    """

    name: str
    kind: str
    base_url: str | None
    api_key: str | None
    timeout_s: float
    max_retries: int
    retry_initial_delay_s: float = 1.0

    def __repr__(self) -> str:
        return (
            f"ProviderConfig(name={self.name!r}, kind={self.kind!r}, base_url={self.base_url!r}, "
            f"api_key={'***' if self.api_key else None}, timeout_s={self.timeout_s}, "
            f"max_retries={self.max_retries})"
        )

    def error(self, model: str, exc: BaseException) -> ProviderError:
        """A :class:`ProviderError` for ``exc`` with the key scrubbed from its message."""
        text = f"{type(exc).__name__}: {exc}"
        return ProviderError(self.name, model, redact(text, [self.api_key or ""]))


class Provider(Protocol):
    """A chat endpoint. Implementations import their SDK lazily and use its own retries."""

    config: ProviderConfig

    async def complete(self, request: CompletionRequest) -> Completion:
        """Run one call; raise :class:`ProviderError` once the SDK has given up."""
        ...

    async def count_tokens(self, text: str, model: str) -> int | None:
        """Exact input tokens from the provider's API, or ``None`` where it has none."""
        ...

    async def aclose(self) -> None:
        """Release the HTTP client."""
        ...
