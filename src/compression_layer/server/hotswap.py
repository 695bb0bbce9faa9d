"""Hot-swap: serve the registry's active adapter and replace it without a restart.

An :class:`EngineHolder` owns one engine per adapter kind. Requests read ``holder.engine`` once
and keep that object to the end, so a swap never touches a request in flight: the old engine is
freed when its last user drops it. :func:`watch_registry` watches the registry folder with
``watchfiles``; when the active pointer of a kind changes it loads the new engine in a worker
thread (off the event loop) and swaps one reference. A load that fails keeps the old engine and
records ``last_error``; ``status()`` reports all of it for the server's ``adapter_status`` tool.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import anyio
from pydantic import BaseModel, Field

from compression_layer.adapters.registry import AdapterRecord, AdapterRegistry
from compression_layer.compress.engines import engine_for_adapter
from compression_layer.errors import EngineError

log = logging.getLogger(__name__)

Loader = Callable[[AdapterRecord | None], Any]


class SwapRecord(BaseModel):
    """One completed swap."""

    at: datetime
    from_adapter: str | None = Field(description="adapter served before the swap")
    to_adapter: str | None = Field(description="adapter served after the swap")
    load_ms: float = Field(description="time spent loading the new engine")


class KindStatus(BaseModel):
    """What one holder serves and how its last swap went."""

    kind: str
    active: str | None = Field(description="adapter the engine in service was loaded from")
    registry_active: str | None = Field(description="adapter the registry points to now")
    metrics: dict[str, Any] = Field(default_factory=dict, description="from its manifest")
    last_swap: SwapRecord | None = None
    last_error: str | None = Field(
        default=None, description="last failed load; the old engine kept"
    )
    swaps: int = 0


class AdapterStatus(BaseModel):
    """``adapter_status``: one entry per adapter kind being served."""

    kinds: dict[str, KindStatus]


class EngineHolder:
    """The engine in service for one adapter kind, swapped atomically on registry changes."""

    def __init__(
        self,
        kind: str,
        loader: Loader | None = None,
        registry: AdapterRegistry | None = None,
    ) -> None:
        self.kind = kind
        self.registry = registry or AdapterRegistry()
        self._loader: Loader = loader or (lambda record: engine_for_adapter(kind, record))
        self._engine: Any = None
        self._record: AdapterRecord | None = None
        self._loaded = False
        self._failed: str | None = None  # pointer whose load failed: not retried until it moves
        self._lock = threading.Lock()  # one load at a time; readers never take it
        self.last_swap: SwapRecord | None = None
        self.last_error: str | None = None
        self.swaps = 0

    @property
    def engine(self) -> Any:
        """The engine to use for one request (grab once, keep it to the end of the request)."""
        engine = self._engine
        if engine is None:
            raise EngineError(
                f"no {self.kind} engine loaded"
                + (f": {self.last_error}" if self.last_error else " (call load_active first)")
            )
        return engine

    @property
    def active_name(self) -> str | None:
        return self._record.name if self._record else None

    def load_active(self) -> bool:
        """Load the registry's active adapter if it differs from the one served (blocking).

        Returns True when a swap happened. Errors are recorded, never raised, once an engine is
        in service; the first load raises so a server cannot start without an engine.
        """
        with self._lock:
            record = self.registry.active_record(self.kind)
            target = record.name if record else None
            if self._loaded and target == self.active_name:
                self._failed = self.last_error = None  # back on the served one: resolved
                return False
            if self._loaded and target == self._failed:
                return False
            started = time.perf_counter()
            try:
                engine = self._loader(record)
            except Exception as exc:
                self._failed = target
                self.last_error = f"failed to load {self.kind} adapter {target!r}: {exc}"
                log.error("%s; still serving %r", self.last_error, self.active_name)
                if not self._loaded:
                    raise EngineError(self.last_error) from exc
                return False
            load_ms = (time.perf_counter() - started) * 1000
            previous = self.active_name
            self._engine, self._record = engine, record  # the swap: one reference each
            self._loaded, self._failed, self.last_error = True, None, None
            self.swaps += 1
            self.last_swap = SwapRecord(
                at=datetime.now(UTC), from_adapter=previous, to_adapter=target, load_ms=load_ms
            )
            del engine
            gc.collect()  # free the old engine's arrays promptly once no request holds it
            log.info("%s adapter swapped: %r -> %r (%.0f ms)", self.kind, previous, target, load_ms)
            return True

    async def refresh(self) -> bool:
        """:meth:`load_active` in a worker thread, so the event loop keeps serving."""
        return await anyio.to_thread.run_sync(self.load_active)

    def status(self) -> KindStatus:
        """Status for ``adapter_status`` (reads the registry for the pointer it should serve)."""
        try:
            pointer = self.registry.active_name(self.kind)
        except Exception as exc:  # a corrupt registry must not break the status tool
            pointer, self.last_error = None, str(exc)
        return KindStatus(
            kind=self.kind,
            active=self.active_name,
            registry_active=pointer,
            metrics=dict(self._record.manifest.metrics) if self._record else {},
            last_swap=self.last_swap,
            last_error=self.last_error,
            swaps=self.swaps,
        )


def status(holders: Sequence[EngineHolder]) -> AdapterStatus:
    """One :class:`KindStatus` per holder, keyed by kind."""
    return AdapterStatus(kinds={h.kind: h.status() for h in holders})


async def watch_registry(
    holders: EngineHolder | Sequence[EngineHolder],
    stop_event: asyncio.Event | anyio.Event,
    *,
    force_polling: bool = False,
) -> None:
    """Watch the registry folder until ``stop_event`` is set; refresh holders on each change.

    Run it as a task in the server lifespan. A reconcile at start covers a pointer that moved
    between the holders' first load and the watcher starting.
    """
    from watchfiles import awatch

    group = [holders] if isinstance(holders, EngineHolder) else list(holders)
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


async def _refresh_all(group: Sequence[EngineHolder]) -> None:
    for holder in group:
        try:
            await holder.refresh()
        except Exception as exc:  # keep watching whatever one holder does
            holder.last_error = str(exc)
            log.error("refresh of %s adapters failed: %s", holder.kind, exc)
