"""The server's adapters: one :class:`~compression_layer.server.hotswap.AdapterSlot` per kind.

Each slot serves the registry's active adapter of its kind, else its default, and swaps without
a restart when the registry changes (see :mod:`compression_layer.server.hotswap`):

- **extractive**: default the configured ``extractive_adapter`` folder, else the packaged
  ``extractive-default``. Calls compress by settings (worker processes for large texts load the
  adapter by its folder), so installing an extractive adapter means installing a new
  :class:`~compression_layer.server.state.EngineState` snapshot whose ``extractive_adapter``
  names it. The model is loaded (and kept warm in the per-process cache) before that.
- **generative**: default nothing. The slot holds the engine the server's engine table returns
  for ``engine="generative"``.

Calls in flight keep what they started with; a load that fails keeps the adapter in service and
shows the error in ``adapter_status``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import anyio

from compression_layer.adapters.registry import AdapterRegistry
from compression_layer.errors import EngineError
from compression_layer.server.hotswap import AdapterSlot, Target, watch_registry
from compression_layer.server.models import AdapterInfo
from compression_layer.server.state import ServerState
from compression_layer.settings import CompressSettings

log = logging.getLogger("compression_layer.server")
WARM_WAIT_S = 300.0  # a real base model can take minutes to load from a cold disk


class ServerAdapters:
    """The adapter slots of one server; the extractive one drives its settings snapshot."""

    def __init__(self, state: ServerState, registry: AdapterRegistry | None = None) -> None:
        self.state = state
        self.registry = registry or AdapterRegistry()
        self._base = state.engines.current.settings  # as configured when the server started
        self.slots = {
            "extractive": AdapterSlot(
                "extractive",
                self._load_extractive,
                self.registry,
                default=self._extractive_default,
                install=self._install_extractive,
            ),
            "generative": AdapterSlot(
                "generative",
                registry=self.registry,
                default=lambda: Target.nothing("generative"),
                install=self._install_generative,
            ),
        }

    # -- extractive ----------------------------------------------------------------------------

    def _extractive_default(self) -> Target:
        configured = self._base.extractive_adapter
        if configured:
            return Target.of_folder("extractive", Path(configured).expanduser(), "configured")
        record = self.registry.packaged("extractive")
        if record is None:  # a package built without its data files
            raise EngineError("the packaged extractive adapter is missing from this install")
        return Target.of_record(record)

    def _settings_for(self, target: Target) -> CompressSettings:
        """The snapshot settings that serve ``target``: the packaged adapter is ``None`` (the
        library's default), the configured one the configured text, a registry one its copy."""
        if target.source == "packaged":
            folder = None
        elif target.source == "configured":
            folder = self._base.extractive_adapter
        else:
            folder = str(target.path)
        return self._base.model_copy(update={"extractive_adapter": folder})

    def _load_extractive(self, target: Target) -> Any:
        from compression_layer.compress.extractive.service import load_extractive

        # Raises EngineError naming the adapter; the slot then keeps the one in service.
        return load_extractive(self._settings_for(target).extractive_adapter)

    def _install_extractive(self, target: Target, _engine: Any, _previous: Target | None) -> None:
        settings = self._settings_for(target)
        if settings != self.state.engines.current.settings:
            self.state.engines.swap(settings)

    # -- generative ----------------------------------------------------------------------------

    def _install_generative(self, target: Target, _engine: Any, previous: Target | None) -> None:
        if previous is not None or target.source != "none":
            self.state.engines.swap()  # same settings, new generation: what is served changed

    def generative_engine(self) -> Any:
        """The generative engine in service (what the server table's ``generative`` returns)."""
        slot = self.slots["generative"]
        # Runs in a worker thread: a call that arrives during start-up waits for the first load.
        self.state.warmed.wait(timeout=WARM_WAIT_S)
        served = slot.served
        if served is None or served.source == "none":
            raise EngineError(
                slot.last_error
                or "no generative adapter is active: train one and run "
                "'compression-layer adapters promote NAME'"
            )
        return slot.engine

    # -- both ----------------------------------------------------------------------------------

    def status(self) -> dict[str, AdapterInfo]:
        """``adapter_status``'s entry per kind."""
        return {kind: slot.status() for kind, slot in self.slots.items()}

    def load_initial(self) -> None:
        """First load (blocking, in the warm-up thread); failures are recorded, not raised."""
        for kind, slot in self.slots.items():
            try:
                slot.load_active()
            except Exception as exc:
                log.warning("%s adapter not loaded: %s", kind, exc)

    async def watch(self, stop: anyio.Event) -> None:
        """Follow the registry until ``stop`` is set."""
        await watch_registry(list(self.slots.values()), stop)
