"""Error types users can act on. Messages are written for the person (or model) reading them."""

from __future__ import annotations


class CompressionLayerError(Exception):
    """Base class: every error this package raises on purpose."""


class InputError(CompressionLayerError, ValueError):
    """The input cannot be compressed as given (empty, binary, too large, malformed)."""


class ConfigError(CompressionLayerError, ValueError):
    """A configuration file or setting is invalid."""


class EngineError(CompressionLayerError, RuntimeError):
    """An engine could not be loaded or failed to run."""


class TokenizerError(CompressionLayerError, RuntimeError):
    """A tokenizer file is missing or does not match its published checksum."""
