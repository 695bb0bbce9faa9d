"""Errors of the validation harness, each written for the person who has to act on it."""

from __future__ import annotations

from compression_layer.errors import CompressionLayerError, ConfigError

APIS_EXTRA = "pip install 'compression-layer[apis]'"


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
    """A provider call failed after the SDK's own retries; the message never holds the key."""

    def __init__(self, provider: str, model: str, message: str) -> None:
        super().__init__(f"{provider}/{model}: {message}")
        self.provider = provider
        self.model = model


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
