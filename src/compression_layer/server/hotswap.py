"""Hot-swap: one :class:`AdapterSlot` per adapter kind knows what the server serves and swaps it.

What a slot should serve (its :class:`Target`) is, in order: the registry's active adapter of
its kind, else the slot's default (for extractive, the configured ``extractive_adapter`` folder,
else the packaged ``extractive-default``; for generative, nothing). So a rollback that leaves no
adapter active returns the slot to its default like any other pointer move.

What it serves is one immutable :class:`Served` value (target + engine), replaced by a single
assignment: a request grabs ``slot.engine`` once and keeps that object to the end, so a swap
never touches a request in flight and the old engine is freed when its last user drops it.
:func:`watch_registry` watches the registry folder with ``watchfiles`` and refreshes every slot
(in a worker thread, off the event loop) when it changes. A load that fails keeps the engine in
service and records ``last_error``; the failed target is not retried until the pointer moves.
``status()`` is what ``adapter_status`` reports.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import anyio
from pydantic import BaseModel, Field

from compression_layer.adapters.manifest import AdapterError, Manifest, read_manifest
from compression_layer.adapters.registry import AdapterRecord, AdapterRegistry
from compression_layer.compress.engines import engine_for_adapter
from compression_layer.errors import EngineError
from compression_layer.server.models import AdapterInfo

log = logging.getLogger(__name__)

Source = Literal["registry", "configured", "packaged", "none"]


@dataclass(frozen=True)
class Target:
    """What a slot should serve: an adapter folder and where the choice came from."""

    kind: str
    source: Source
    name: str | None = None
    path: Path | None = None
    manifest: Manifest | None = None

    @property
    def key(self) -> tuple[str, str | None, str | None]:
        """Identity: two targets with the same key serve the same thing."""
        return (self.source, self.name, str(self.path) if self.path else None)

    @classmethod
    def of_record(cls, record: AdapterRecord) -> Target:
        """A registry record (registered or packaged) as a target."""
        return cls(record.kind, record.source, record.name, record.path, record.manifest)

    @classmethod
    def of_folder(cls, kind: str, folder: Path, source: Source) -> Target:
        """A folder named by configuration; an unreadable manifest is left for the load to
        report (with the folder's name), so the target itself is always describable."""
        try:
            manifest: Manifest | None = read_manifest(folder)
        except AdapterError:
            manifest = None
        return cls(kind, source, folder.name, folder, manifest)

    @classmethod
    def nothing(cls, kind: str) -> Target:
        return cls(kind, "none")


@dataclass(frozen=True)
class Served:
    """The slot's current value: a target and the engine loaded from it (None for nothing)."""

    target: Target
    engine: Any


class SwapRecord(BaseModel):
    """One completed swap (the first load of a slot is not a swap)."""

    at: datetime
    from_adapter: str | None = Field(description="adapter served before the swap")
    to_adapter: str | None = Field(description="adapter served after the swap")
    to_source: str = Field(description="registry | configured | packaged | none")
    load_ms: float = Field(description="time spent loading the new engine")


Loader = Callable[[Target], Any]
# Called under the slot's lock once the new engine loaded, before it is served: (target, engine,
# previous target or None on the first load). The server points its settings snapshot there.
Installer = Callable[[Target, Any, Target | None], None]


def _default_loader(target: Target) -> Any:
    if target.source == "none":
        return None
    return engine_for_adapter(target.kind, target.path, target.name)


class AdapterSlot:
    """What one adapter kind serves, swapped whole when the registry's pointer moves."""

    def __init__(
        self,
        kind: str,
        loader: Loader | None = None,
        registry: AdapterRegistry | None = None,
        *,
        default: Callable[[], Target] | None = None,
        install: Installer | None = None,
    ) -> None:
        self.kind = kind
        self.registry = registry or AdapterRegistry()
        self._loader: Loader = loader or _default_loader
        self._default = default or self._packaged_or_nothing
        self._install = install
        self._served: Served | None = None
        self._failed: Target | None = None  # not retried until the wanted target changes
        self._lock = threading.Lock()  # one load at a time; readers never take it
        self.last_swap: SwapRecord | None = None
        self.last_error: str | None = None
        self.swaps = 0

    def _packaged_or_nothing(self) -> Target:
        record = self.registry.packaged(self.kind)
        return Target.of_record(record) if record else Target.nothing(self.kind)

    # -- what is served ------------------------------------------------------------------------

    @property
    def served(self) -> Target | None:
        """The target in service (None until the first load succeeded)."""
        served = self._served
        return served.target if served else None

    @property
    def engine(self) -> Any:
        """The engine to use for one request (grab once, keep it to the end of the request)."""
        served = self._served
        if served is None or served.engine is None:
            why = self.last_error or (
                "nothing to serve" if served else "not loaded yet (call load_active first)"
            )
            raise EngineError(f"no {self.kind} engine loaded: {why}")
        return served.engine

    @property
    def active_name(self) -> str | None:
        served = self._served
        return served.target.name if served else None

    def wanted(self) -> Target:
        """What should serve now: the registry's active adapter, else the default."""
        record = self.registry.active_record(self.kind)
        return Target.of_record(record) if record else self._default()

    # -- loading -------------------------------------------------------------------------------

    def load_active(self) -> bool:
        """Serve :meth:`wanted` if it differs from what is served (blocking); True on a change.

        Once something serves, failures are recorded, never raised. Before that, a registry
        adapter that fails to load falls back to the default (the failure stays in
        ``last_error``), and the first load raises only when nothing could be loaded.
        """
        with self._lock:
            served = self._served
            try:
                target = self.wanted()
            except Exception as exc:  # a corrupt registry.json must not stop the server
                self.last_error = f"cannot read the {self.kind} adapter pointer: {exc}"
                if served is None:
                    raise EngineError(self.last_error) from exc
                return False
            if served is not None and target.key == served.target.key:
                self._failed = self.last_error = None  # back on the served one: resolved
                return False
            failed = self._failed
            if served is not None and failed is not None and target.key == failed.key:
                return False  # tried already; waits for the pointer to move
            try:
                self._swap_to(target, served)
            except Exception as exc:
                self._failed, self.last_error = target, self._failure(target, exc)
                log.error("%s; still serving %r", self.last_error, self.active_name)
                if served is not None:
                    return False
                if target.source != "registry":
                    raise EngineError(self.last_error) from exc
                try:
                    fallback = self._default()
                    self._swap_to(fallback, None)
                except Exception as second:
                    both = f"{self.last_error}; the default failed too: {second}"
                    raise EngineError(both) from second
                log.warning("serving the default %s adapter %r", self.kind, fallback.name)
                return True
            self._failed = self.last_error = None
            del served
            gc.collect()  # free the old engine's arrays promptly once no request holds it
            return True

    def _failure(self, target: Target, exc: Exception) -> str:
        return f"failed to load {self.kind} adapter {target.name!r} ({target.source}): {exc}"

    def _swap_to(self, target: Target, served: Served | None) -> None:
        """Load ``target``, let the server install it, then serve it (one assignment)."""
        started = time.perf_counter()
        engine = self._loader(target)
        if self._install is not None:
            self._install(target, engine, served.target if served else None)
        load_ms = (time.perf_counter() - started) * 1000
        self._served = Served(target, engine)
        if served is not None:
            self.swaps += 1
            self.last_swap = SwapRecord(
                at=datetime.now(UTC),
                from_adapter=served.target.name,
                to_adapter=target.name,
                to_source=target.source,
                load_ms=round(load_ms, 1),
            )
            log.info("%s adapter swapped: %r -> %r (%s, %.0f ms)", self.kind,
                     served.target.name, target.name, target.source, load_ms)  # fmt: skip

    async def refresh(self) -> bool:
        """:meth:`load_active` in a worker thread, so the event loop keeps serving."""
        return await anyio.to_thread.run_sync(self.load_active)

    # -- reporting -----------------------------------------------------------------------------

    def status(self) -> AdapterInfo:
        """What ``adapter_status`` shows for this kind: the served adapter (else the one wanted),
        its manifest figures, the registry's pointer, the last swap and the last error."""
        served = self._served
        error = self.last_error
        try:
            pointer = self.registry.active_name(self.kind)
        except Exception as exc:  # a corrupt registry must not break the status tool
            pointer, error = None, error or str(exc)
        shown = served.target if served else self._failed
        if shown is None:
            try:
                shown = self.wanted()
            except Exception as exc:
                shown, error = Target.nothing(self.kind), error or str(exc)
        manifest = shown.manifest
        return AdapterInfo(
            kind=self.kind,
            name=shown.name,
            path=str(shown.path) if shown.path else None,
            source=shown.source,
            loaded=served is not None and served.engine is not None,
            metrics=dict(manifest.metrics) if manifest else {},
            created_at=manifest.created_at.isoformat() if manifest else None,
            last_swap=self.last_swap.at if self.last_swap else None,
            last_error=error,
            registry_active=pointer,
            swaps=self.swaps,
        )


async def watch_registry(
    slots: AdapterSlot | Sequence[AdapterSlot],
    stop_event: asyncio.Event | anyio.Event,
    *,
    force_polling: bool = False,
) -> None:
    """Watch the registry folder until ``stop_event`` is set; refresh the slots on each change.

    Run it as a task in the server lifespan. A reconcile at start covers a pointer that moved
    between the slots' first load and the watcher starting.
    """
    from watchfiles import awatch

    group = [slots] if isinstance(slots, AdapterSlot) else list(slots)
    if not group:
        return
    root = group[0].registry.root
    root.mkdir(parents=True, exist_ok=True)
    await _refresh_all(group)
    async for _changes in awatch(
        root,
        stop_event=stop_event,
        debounce=400,
        step=30,
        recursive=False,
        force_polling=force_polling,
        poll_delay_ms=100,
    ):
        await _refresh_all(group)


async def _refresh_all(group: Sequence[AdapterSlot]) -> None:
    for slot in group:
        try:
            await slot.refresh()
        except Exception as exc:  # keep watching whatever one slot does
            slot.last_error = str(exc)
            log.error("refresh of %s adapters failed: %s", slot.kind, exc)
