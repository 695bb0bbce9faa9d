"""Engine tables: which engine a name means, owned by whoever compresses.

The library keeps one default table (:data:`DEFAULT_ENGINES`, built-in engines plus whatever a
library user adds with :func:`register_engine`). A server builds its own copy with
:meth:`EngineTable.copy` and overrides entries there (its generative engine follows the adapter
registry), so nothing it does changes what the library's own ``compress()`` calls get.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from compression_layer.compress.structural.engine import StructuralEngine
from compression_layer.compress.types import Engine
from compression_layer.errors import InputError
from compression_layer.settings import CompressSettings

EngineFactory = Callable[[CompressSettings], Engine]


def _structural(settings: CompressSettings) -> Engine:
    return StructuralEngine()


def _extractive(settings: CompressSettings) -> Engine:
    # Imported on first use: the extractive model brings torch and onnxruntime.
    from compression_layer.compress.extractive.service import (
        ExtractiveAdapterEngine,
        load_extractive,
    )

    return ExtractiveAdapterEngine(load_extractive(settings.extractive_adapter))


def _generative(settings: CompressSettings) -> Engine:
    # Imported on first use: mlx-lm is an optional extra.
    from compression_layer.compress.generative.mlx import engine_from_settings

    return engine_from_settings(compress_settings=settings)


def _remote(settings: CompressSettings) -> Engine:
    from compression_layer.compress.generative.remote import RemoteEngine

    return RemoteEngine(compress_settings=settings)


BUILTIN: Mapping[str, EngineFactory] = {
    "structural": _structural,
    "extractive": _extractive,
    "generative": _generative,
    "remote": _remote,
}


class EngineTable:
    """Engine name -> factory ``(CompressSettings) -> Engine``."""

    def __init__(self, factories: Mapping[str, EngineFactory] | None = None) -> None:
        self._factories = dict(BUILTIN if factories is None else factories)

    def copy(self, **overrides: EngineFactory) -> EngineTable:
        """A new table with the same entries, some replaced or added."""
        return EngineTable({**self._factories, **overrides})

    def register(self, name: str, factory: EngineFactory) -> None:
        """Add or replace an engine in this table only."""
        self._factories[name] = factory

    def unregister(self, name: str) -> None:
        self._factories.pop(name, None)

    def factory(self, name: str) -> EngineFactory | None:
        return self._factories.get(name)

    def names(self) -> list[str]:
        """What ``engine=`` accepts: ``auto`` and every entry."""
        return ["auto", *sorted(self._factories)]

    def __contains__(self, name: object) -> bool:
        return name in self._factories

    def make(self, name: str, settings: CompressSettings) -> Engine:
        """A ready engine for ``name``; an unknown name is an InputError listing the choices."""
        factory = self._factories.get(name)
        if factory is None:
            raise InputError(f"unknown engine {name!r}; choose one of {', '.join(self.names())}")
        return factory(settings)


DEFAULT_ENGINES = EngineTable()
"""The table ``compress()`` uses when its caller passes none."""


def register_engine(name: str, factory: EngineFactory) -> None:
    """Add or replace an engine in the library's default table."""
    DEFAULT_ENGINES.register(name, factory)


def engine_names() -> list[str]:
    """Engine names of the library's default table."""
    return DEFAULT_ENGINES.names()


def engine_for_adapter(kind: str, path: Path | None, name: str | None = None) -> Engine:
    """A fresh engine for the adapter folder ``path`` (None: the kind's default: the packaged
    extractive adapter, or the bare generative base model), never from a cache.

    Fresh so that a replaced engine is freed once its last request ends (hot-swap memory).
    ``name`` is what results report as their ``adapter`` (default: the folder's name).
    """
    if kind == "generative":
        from compression_layer.compress.generative.mlx import GenerativeEngine, load_model
        from compression_layer.settings import GenerativeSettings, load_area

        cfg = load_area(GenerativeSettings)
        label = name or (path.name if path else None)
        return GenerativeEngine(load_model(cfg.base_model, path, label))
    if kind != "extractive":
        raise InputError(f"unknown adapter kind {kind!r}; choose one of extractive, generative")
    from compression_layer.compress.extractive.engine import ExtractiveEngine
    from compression_layer.compress.extractive.service import ExtractiveAdapterEngine

    return ExtractiveAdapterEngine(ExtractiveEngine.load(path))
