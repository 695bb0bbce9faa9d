"""What the server holds for its lifetime: the engine settings snapshot, memory store, limits.

``EngineState`` holds the settings calls compress with. A call takes a snapshot (``current``)
and runs on it; the extractive adapter slot (:mod:`compression_layer.server.swap`) installs a
new snapshot when it swaps adapters, so calls in flight finish on the old settings, later calls
get the new ones, and no call ever sees half of each. What each adapter kind serves, and why,
is the slot's to say (``ServerState.adapters``), not this module's.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from compression_layer.compress.engines import EngineTable
from compression_layer.settings import CompressSettings, ServerSettings

if TYPE_CHECKING:
    from compression_layer.server.swap import ServerAdapters


@dataclass(frozen=True)
class EngineSnapshot:
    """One consistent view of the engine configuration; never mutated after creation."""

    settings: CompressSettings
    generation: int = 0


class EngineState:
    """Holder of the current engine snapshot, replaced atomically under a lock."""

    def __init__(self, settings: CompressSettings) -> None:
        self._lock = threading.Lock()
        self._snapshot = EngineSnapshot(settings)

    @property
    def current(self) -> EngineSnapshot:
        with self._lock:
            return self._snapshot

    def swap(self, settings: CompressSettings | None = None) -> EngineSnapshot:
        """Install new settings (None: the same ones, a new generation); the new snapshot.

        The caller loads the new engine first, so a failing adapter never replaces a working
        one.
        """
        with self._lock:
            chosen = settings if settings is not None else self._snapshot.settings
            self._snapshot = EngineSnapshot(chosen, self._snapshot.generation + 1)
            return self._snapshot


@dataclass
class ServerState:
    """The lifespan context every tool receives (``ctx.request_context.lifespan_context``)."""

    settings: ServerSettings
    engines: EngineState
    roots: list[Path]
    memory: Any = None  # a compression_layer.memory.MemoryStore once opened
    adapters: ServerAdapters | None = None  # the adapter slots (registry hot-swap)
    engine_table: EngineTable = field(default_factory=EngineTable)
    memory_error: str | None = None
    originals: Any = None  # a compression_layer.originals.OriginalStore when originals.server
    # Set once the embedder (and engines) finished loading in the background; memory tools
    # wait for it so a first call never loads a second copy of the model.
    warmed: threading.Event = field(default_factory=threading.Event)
    compress_limiter: anyio.CapacityLimiter = field(
        default_factory=lambda: anyio.CapacityLimiter(4)
    )
    process_limiter: anyio.CapacityLimiter = field(default_factory=lambda: anyio.CapacityLimiter(2))
