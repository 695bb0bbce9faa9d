"""Hot-swap inside the server: follow the adapter registry and swap engines without a restart.

One :class:`~compression_layer.server.hotswap.EngineHolder` per adapter kind watches the registry's
active pointer. Their loaders load the new adapter off the event loop and, only once it loaded,
install it: the extractive adapter as a new :class:`EngineState` snapshot (so worker processes
for large texts follow too), the generative engine in the holder the pipeline reads. Calls in
flight keep the engine they started with; a load that fails keeps the old engine and shows the
error in ``adapter_status``.
"""

from __future__ import annotations

import logging
from typing import Any

import anyio

from compression_layer.adapters.registry import AdapterRecord, AdapterRegistry
from compression_layer.compress.engines import engine_for_adapter
from compression_layer.errors import EngineError
from compression_layer.server.hotswap import EngineHolder, KindStatus, watch_registry
from compression_layer.server.state import ServerState

log = logging.getLogger("compression_layer.server")
WARM_WAIT_S = 300.0  # a real base model can take minutes to load from a cold disk


class ServerAdapters:
    """The registry-backed holders of one server, mirrored into its :class:`EngineState`."""

    def __init__(self, state: ServerState, registry: AdapterRegistry | None = None) -> None:
        self.state = state
        self.registry = registry or AdapterRegistry()
        self._base = state.engines.current.settings  # configured / packaged extractive adapter
        self.holders = {
            "extractive": EngineHolder("extractive", self._load_extractive, self.registry),
            "generative": EngineHolder("generative", self._load_generative, self.registry),
        }

    def _load_extractive(self, record: AdapterRecord | None) -> str | None:
        from compression_layer.compress.extractive.service import load_extractive

        path = str(record.path) if record else self._base.extractive_adapter
        load_extractive(path)  # raises EngineError naming the adapter: the old one stays
        if path == self.state.engines.current.settings.extractive_adapter:
            return path  # already served (start-up with no registry adapter)
        update = {"extractive_adapter": path}
        self.state.engines.swap(self._base.model_copy(update=update), kind="extractive")
        if record is not None:
            self.state.engines.describe("extractive", name=record.name, source="registry")
        return path

    def _load_generative(self, record: AdapterRecord | None) -> Any:
        if record is None:
            return None  # no generative adapter promoted: nothing to hold in memory
        engine = engine_for_adapter("generative", record)
        self.state.engines.swap(self.state.engines.current.settings, kind="generative")
        self.state.engines.describe("generative", name=record.name, source="registry")
        return engine

    def generative_engine(self) -> Any:
        """The generative engine in service (what the pipeline's ``generative`` factory returns)."""
        holder = self.holders["generative"]
        # Runs in a worker thread: a call that arrives during start-up waits for the first load.
        self.state.warmed.wait(timeout=WARM_WAIT_S)
        engine = holder.engine if holder.active_name else None
        if engine is None:
            raise EngineError(
                holder.last_error
                or "no generative adapter is active: train one and run "
                "'compression-layer adapters promote NAME'"
            )
        return engine

    def status(self) -> dict[str, KindStatus]:
        return {kind: holder.status() for kind, holder in self.holders.items()}

    def load_initial(self) -> None:
        """First load (blocking, in the warm-up thread); failures are recorded, not raised."""
        for kind, holder in self.holders.items():
            try:
                holder.load_active()
            except Exception as exc:
                self.state.engines.record_error(kind, str(exc))

    async def watch(self, stop: anyio.Event) -> None:
        """Follow the registry until ``stop`` is set."""
        await watch_registry(list(self.holders.values()), stop)
