"""compression-layer: cut the tokens of context and memory while keeping what models do with them.

>>> from compression_layer import compress
>>> result = compress(open("service.py").read())
>>> result.ratio, result.facts_missing
"""

from compression_layer.compress.engines import engine_names, register_engine
from compression_layer.compress.pipeline import compress
from compression_layer.compress.types import CompressionResult, CompressRequest, Domain
from compression_layer.errors import (
    CompressionLayerError,
    ConfigError,
    EngineError,
    InputError,
    TokenizerError,
)

__all__ = [
    "CompressRequest",
    "CompressionLayerError",
    "CompressionResult",
    "ConfigError",
    "Domain",
    "EngineError",
    "InputError",
    "TokenizerError",
    "compress",
    "engine_names",
    "register_engine",
]
__version__ = "0.1.0"
