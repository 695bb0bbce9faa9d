"""compression-layer: cut the tokens of context and memory while keeping what models do with them.

>>> from compression_layer import compress
>>> result = compress(open("service.py").read())
>>> result.ratio, result.facts_missing

The public names are loaded on first use, so that importing a subpackage (the CLI's
``--help`` above all) does not pay for the compression pipeline and its engines.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

# The subpackage ``compress`` shares its name with the public function. Loading the (empty)
# subpackage now means later imports of its modules never rebind the package attribute, so
# ``compression_layer.compress`` is the function, as with the eager imports this replaces.
import compression_layer.compress  # noqa: F401
from compression_layer.errors import (
    CompressionLayerError,
    ConfigError,
    EngineError,
    InputError,
    TokenizerError,
)

if TYPE_CHECKING:
    from compression_layer.compress.documents import DocumentsOutput, compress_documents
    from compression_layer.compress.engines import engine_names, register_engine
    from compression_layer.compress.pipeline import compress
    from compression_layer.compress.types import CompressionResult, CompressRequest, Domain
    from compression_layer.originals.store import OriginalStore, retrieve
else:
    del compress  # the subpackage, bound by the import above: the name is the function's

__all__ = [
    "CompressRequest",
    "CompressionLayerError",
    "CompressionResult",
    "ConfigError",
    "DocumentsOutput",
    "Domain",
    "EngineError",
    "InputError",
    "OriginalStore",
    "TokenizerError",
    "compress",
    "compress_documents",
    "engine_names",
    "register_engine",
    "retrieve",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # Plain imports (not importlib) so the layout check in the tests sees them.
    value: Any
    if name == "compress":
        from compression_layer.compress import pipeline

        value = pipeline.compress
    elif name in ("compress_documents", "DocumentsOutput"):
        from compression_layer.compress import documents

        value = getattr(documents, name)
    elif name in ("engine_names", "register_engine"):
        from compression_layer.compress import engines

        value = getattr(engines, name)
    elif name in ("CompressionResult", "CompressRequest", "Domain"):
        from compression_layer.compress import types

        value = getattr(types, name)
    elif name in ("OriginalStore", "retrieve"):
        from compression_layer.originals import store

        value = getattr(store, name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
