"""Errors of the validation harness, each written for the person who has to act on it."""

from __future__ import annotations

from compression_layer.errors import CompressionLayerError, ConfigError

APIS_EXTRA = "pip install 'compression-layer[apis]'"

# Why a provider call failed (``ProviderError.reason``); the report and the CLI group by these.
REASONS = {
    "auth": "the key was rejected",
    "forbidden": "the key has no access",
    "not_found": "model or route not found",
    "bad_request": "the request was refused",
    "rate_limited": "rate limited",
    "server": "server error",
    "bad_response": "not a valid API response",
    "connection": "could not connect",
    "dns": "host name did not resolve",
    "timeout": "no response within timeout_s",
    "deadline": "cut off by the deadline",
    "skipped": "skipped: the provider was given up",
    "budget": "not sent: the budget was reached",
    "error": "failed",
}
# Reasons that mean the call ran out of time (the report marks those calls as timed out).
TIMED_OUT = frozenset({"timeout", "deadline"})


class UnknownModelError(ConfigError):
    """A requested model name is neither in the catalog nor of the ``provider:model`` form."""


class MissingKeyError(ConfigError):
    """A requested provider needs an API key and its environment variable is unset."""

    def __init__(self, provider: str, env_var: str) -> None:
        super().__init__(
            f"provider {provider!r} needs an API key: set the environment variable {env_var}"
        )
        self.provider = provider
        self.env_var = env_var


class MissingExtraError(ConfigError):
    """A provider's SDK is not installed."""

    def __init__(self, package: str) -> None:
        super().__init__(f"the {package!r} SDK is not installed: {APIS_EXTRA}")
        self.package = package


class ProviderError(CompressionLayerError, RuntimeError):
    """A provider call failed; the message says why in words and never holds the key.

    ``reason`` is one of :data:`REASONS`; ``retryable`` says whether another attempt may help
    (429, 5xx, a timeout, a truncated body); ``retry_after`` is the server's Retry-After in
    seconds, when it sent one; ``status`` the HTTP status, when there was one.
    """

    def __init__(
        self,
        provider: str,
        model: str,
        message: str,
        *,
        reason: str = "error",
        retryable: bool = False,
        retry_after: float | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(f"{provider}/{model}: {message}")
        self.provider = provider
        self.model = model
        self.detail = message
        self.reason = reason
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status

    @property
    def timed_out(self) -> bool:
        """True when the call ran out of time (the per-request timeout or a deadline)."""
        return self.reason in TIMED_OUT

    def with_detail(self, message: str, **changes: object) -> ProviderError:
        """The same error with another message (and any field changed)."""
        fields: dict[str, object] = {
            "reason": self.reason,
            "retryable": self.retryable,
            "retry_after": self.retry_after,
            "status": self.status,
        }
        fields.update(changes)
        return ProviderError(self.provider, self.model, message, **fields)  # type: ignore[arg-type]


class BudgetExceededError(CompressionLayerError, RuntimeError):
    """The next call's estimated cost would take the run past its budget; it was not made."""

    def __init__(self, spent: float, estimate: float, budget: float) -> None:
        super().__init__(
            f"budget of ${budget:.4f} reached: ${spent:.4f} spent or reserved, next call "
            f"estimated at ${estimate:.4f}"
        )
        self.spent = spent
        self.estimate = estimate
        self.budget = budget


def redact(message: str, secrets: list[str]) -> str:
    """``message`` with every secret replaced; SDK errors can echo request headers or bodies."""
    for secret in secrets:
        if secret:
            message = message.replace(secret, "***")
    return message
