"""The extractive engine as the pipeline sees it, and the per-process cache of loaded adapters.

Prose goes through the learned keep/drop model; code, JSON and log parts of a mixed document
still go through the lossless structural passes.

The cache is a memo, not a choice: it maps an adapter folder (``None``: the packaged one) to its
loaded model, so every call naming the same folder in its settings shares one copy, in this
process and, separately, in each worker process. *Which* folder a running server names is
decided in one place, its extractive adapter slot (:mod:`compression_layer.server.swap`).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from compression_layer import tokens
from compression_layer.compress.extractive.engine import ExtractiveEngine
from compression_layer.compress.structural.dispatch import compress_structural
from compression_layer.compress.structural.engine import StructuralEngine
from compression_layer.compress.types import CompressRequest, Domain, EngineOutput


class ExtractiveAdapterEngine:
    """The learned keep/drop engine for prose; code/JSON/log parts still go structural."""

    name = "extractive"

    def __init__(self, model: Any) -> None:
        self.model = model

    @property
    def default_rate(self) -> float | None:
        """The rate the adapter's targets were measured at, used when a call names none."""
        rate = getattr(self.model, "default_rate", None)
        return float(rate) if rate is not None else None

    def _prose(self, text: str, request: CompressRequest, notes: list[str]) -> str:
        out = self.model.compress(
            text, rate=request.rate, target_tokens=request.target_tokens, query=request.query
        )
        for note in getattr(out, "notes", None) or []:
            if note not in notes:
                notes.append(note)
        return str(out.text)

    def run(self, text: str, domain: Domain, request: CompressRequest) -> EngineOutput:
        adapter = getattr(self.model, "adapter_name", None)
        notes: list[str] = []
        if domain.kind == "prose":
            return EngineOutput(self._prose(text, request, notes), self.name, adapter, notes)
        if domain.kind == "mixed":
            return EngineOutput(self._mixed(text, request, notes), self.name, adapter, notes)
        structural = StructuralEngine().run(text, domain, request)
        structural.notes.append(f"{domain.kind} input: routed to the structural engine")
        return structural

    def _mixed(self, text: str, request: CompressRequest, notes: list[str]) -> str:
        if request.target_tokens is not None:
            # One budget for the whole document: spread it over the prose parts as a rate.
            share = request.target_tokens / max(tokens.count_tokens(text), 1)
            request = request.model_copy(update={"rate": min(1.0, share), "target_tokens": None})
        out = compress_structural(
            text,
            Domain(kind="mixed"),
            strip_docstrings=request.strip_docstrings,
            prose=lambda part: self._prose(part, request, notes),
        )
        return out.text


_engine_lock = threading.Lock()
_extractive_cache: OrderedDict[str | None, Any] = OrderedDict()
# Adapters kept loaded: the one in service and the one before it (calls still in flight after a
# swap, or an immediate rollback). Older ones are dropped so repeated swaps do not grow memory.
EXTRACTIVE_CACHE_SIZE = 2


def load_extractive(adapter: str | None = None) -> Any:
    """Load (once per adapter path) the extractive model; raises EngineError naming the adapter."""
    with _engine_lock:
        if adapter in _extractive_cache:
            _extractive_cache.move_to_end(adapter)
            return _extractive_cache[adapter]
        model = ExtractiveEngine.load(Path(adapter) if adapter else None)
        _extractive_cache[adapter] = model
        while len(_extractive_cache) > EXTRACTIVE_CACHE_SIZE:
            _extractive_cache.popitem(last=False)
        return model


def clear_cache() -> None:
    """Forget every loaded adapter (tests, and a server that must reload from disk)."""
    with _engine_lock:
        _extractive_cache.clear()
