"""What the server holds for its lifetime: engine settings (swappable), memory store, limits.

``EngineState`` is the one place the server reads engine configuration from. A call takes a
snapshot (``current``) and runs on it, so a registry watcher can ``swap`` in a newly promoted
adapter at any time: calls in flight finish on the old engine, later calls get the new one, and
no call ever sees half of each.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio

from compression_layer.compress.engines import EngineTable
from compression_layer.settings import CompressSettings, ServerSettings


@dataclass(frozen=True)
class EngineSnapshot:
    """One consistent view of the engine configuration; never mutated after creation."""

    settings: CompressSettings
    generation: int = 0


@dataclass
class AdapterRecord:
    """What the server knows about the adapter of one kind (extractive, generative)."""

    kind: str
    name: str | None = None
    path: str | None = None
    source: str = "none"
    loaded: bool = False
    manifest: dict[str, Any] = field(default_factory=dict)
    last_swap: datetime | None = None
    last_error: str | None = None


class EngineState:
    """Holder of the current engine snapshot, swapped atomically under a lock."""

    def __init__(self, settings: CompressSettings) -> None:
        self._lock = threading.Lock()
        self._snapshot = EngineSnapshot(settings)
        self._adapters: dict[str, AdapterRecord] = {
            "extractive": _describe_extractive(settings),
            "generative": AdapterRecord(kind="generative", source="none"),
        }

    @property
    def current(self) -> EngineSnapshot:
        with self._lock:
            return self._snapshot

    def adapters(self) -> dict[str, AdapterRecord]:
        with self._lock:
            return {k: AdapterRecord(**vars(v)) for k, v in self._adapters.items()}

    def record_error(self, kind: str, message: str) -> None:
        """Remember the last failure of an adapter kind (shown by ``adapter_status``)."""
        with self._lock:
            self._adapters.setdefault(kind, AdapterRecord(kind=kind)).last_error = message

    def mark_loaded(self, kind: str, *, name: str | None) -> None:
        with self._lock:
            record = self._adapters.setdefault(kind, AdapterRecord(kind=kind))
            record.loaded = True
            if name:
                record.name = name

    def describe(self, kind: str, *, name: str | None, source: str) -> None:
        """Name the adapter a swap installed and where it came from (e.g. the registry)."""
        with self._lock:
            record = self._adapters.setdefault(kind, AdapterRecord(kind=kind))
            record.name, record.source = name, source

    def swap(self, settings: CompressSettings, *, kind: str = "extractive") -> EngineSnapshot:
        """Install new engine settings (e.g. a promoted adapter); returns the new snapshot.

        The caller loads / warms the new engine first, so a failing adapter never replaces a
        working one: on failure call ``record_error`` instead.
        """
        with self._lock:
            self._snapshot = EngineSnapshot(settings, self._snapshot.generation + 1)
            record = _describe_extractive(settings) if kind == "extractive" else AdapterRecord(kind)
            record.loaded = True
            record.last_swap = datetime.now(UTC)
            self._adapters[kind] = record
            return self._snapshot

    def load(self) -> None:
        """Load the extractive engine (blocking; run off the loop). Failures are recorded.

        ``auto`` then falls back to the structural engine, and ``adapter_status`` shows why.
        """
        from compression_layer.compress.extractive.service import load_extractive
        from compression_layer.errors import CompressionLayerError

        try:
            model = load_extractive(self.current.settings.extractive_adapter)
        except (CompressionLayerError, ImportError, OSError) as exc:
            self.record_error("extractive", str(exc))
            return
        self.mark_loaded("extractive", name=getattr(model, "adapter_name", None))


def _describe_extractive(settings: CompressSettings) -> AdapterRecord:
    """Name, folder and manifest of the extractive adapter these settings select (not loaded)."""
    if settings.extractive_adapter:
        path, source = Path(settings.extractive_adapter), "configured"
    else:
        from compression_layer.compress.extractive.engine import packaged_adapter_dir

        path, source = packaged_adapter_dir(), "packaged"
    record = AdapterRecord(kind="extractive", name=path.name, path=str(path), source=source)
    manifest = path / "manifest.json"
    try:
        record.manifest = json.loads(manifest.read_text(encoding="utf-8"))
    except FileNotFoundError:
        record.last_error = f"{manifest}: not found"
    except (OSError, ValueError) as exc:
        record.last_error = f"{manifest}: unreadable ({exc})"
    return record


@dataclass
class ServerState:
    """The lifespan context every tool receives (``ctx.request_context.lifespan_context``)."""

    settings: ServerSettings
    engines: EngineState
    roots: list[Path]
    memory: Any = None  # a compression_layer.memory.MemoryStore once opened
    adapters: Any = None  # a compression_layer.server.swap.ServerAdapters (registry hot-swap)
    engine_table: EngineTable = field(default_factory=EngineTable)
    memory_error: str | None = None
    # Set once the embedder (and engines) finished loading in the background; memory tools
    # wait for it so a first call never loads a second copy of the model.
    warmed: threading.Event = field(default_factory=threading.Event)
    compress_limiter: anyio.CapacityLimiter = field(
        default_factory=lambda: anyio.CapacityLimiter(4)
    )
    process_limiter: anyio.CapacityLimiter = field(default_factory=lambda: anyio.CapacityLimiter(2))
