"""The adapter registry: validated copies of adapter folders and the active one of each kind.

Layout under ``<data dir>/adapters/``::

    registry.json                 adapters, active pointer per kind, activation history
    generative/<name>/            copy of a registered generative (MLX LoRA) adapter
    extractive/<name>/            copy of a registered extractive adapter

``registry.json`` is only ever replaced whole (temp file + ``os.replace``), so a reader (the
server's watcher) sees the old pointer or the new one, never half a file. Writers in several
processes serialise on a lock file. ``activate`` moves the pointer (the promotion gate in
:mod:`compression_layer.training.gate` calls it once a candidate passed); ``rollback`` returns
to the previously active one.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from compression_layer.adapters.check import (
    KINDS,
    AdapterError,
    AdapterKind,
    Manifest,
    check_name,
    validate_folder,
)
from compression_layer.settings import data_dir

__all__ = ["AdapterError", "AdapterRecord", "AdapterRegistry"]

REGISTRY_FILE = "registry.json"


class AdapterRecord(BaseModel):
    """One registered adapter."""

    name: str
    kind: AdapterKind
    path: Path
    registered_at: datetime
    manifest: Manifest
    gate: dict[str, Any] | None = Field(
        default=None, description="the last gate decision, if promoted"
    )


def _no_active() -> dict[str, str | None]:
    return {k: None for k in KINDS}


def _no_history() -> dict[str, list[str]]:
    return {k: [] for k in KINDS}


class RegistryState(BaseModel):
    """The whole of ``registry.json``."""

    version: int = 1
    adapters: dict[str, AdapterRecord] = Field(default_factory=dict)
    active: dict[str, str | None] = Field(default_factory=_no_active)
    history: dict[str, list[str]] = Field(default_factory=_no_history)


class AdapterRegistry:
    """Registry rooted at ``root`` (default ``<data dir>/adapters``)."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or data_dir() / "adapters"

    @property
    def registry_file(self) -> Path:
        return self.root / REGISTRY_FILE

    # -- reading -------------------------------------------------------------------------------

    def load(self) -> RegistryState:
        """The current state (empty when nothing was registered yet)."""
        if not self.registry_file.is_file():
            return RegistryState()
        try:
            return RegistryState.model_validate_json(self.registry_file.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise AdapterError(f"{self.registry_file} is corrupt: {exc}") from exc

    def list(self) -> list[AdapterRecord]:
        """Every registered adapter, by kind then name."""
        return sorted(self.load().adapters.values(), key=lambda r: (r.kind, r.name))

    def show(self, name: str) -> AdapterRecord:
        """One adapter by name; AdapterError names the registered ones when unknown."""
        state = self.load()
        if name not in state.adapters:
            known = ", ".join(sorted(state.adapters)) or "none"
            raise AdapterError(f"no adapter named {name!r} (registered: {known})")
        return state.adapters[name]

    def active_name(self, kind: str) -> str | None:
        return self.load().active.get(_kind(kind))

    def active_record(self, kind: str) -> AdapterRecord | None:
        state = self.load()
        name = state.active.get(_kind(kind))
        return state.adapters.get(name) if name else None

    # -- writing -------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[RegistryState]:
        """Read-modify-write under an exclusive lock; the state is written back atomically."""
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / ".lock").open("a", encoding="utf-8") as lock:
            try:
                import fcntl

                fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            except ImportError:  # Windows: single-writer assumption
                pass
            state = self.load()
            yield state
            self._write(state)

    def _write(self, state: RegistryState) -> None:
        fd, tmp = tempfile.mkstemp(prefix=".registry-", suffix=".json", dir=self.root)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(state.model_dump_json(indent=2))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.registry_file)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def register(self, folder: Path, name: str | None = None) -> AdapterRecord:
        """Validate ``folder`` and copy it in under ``name`` (default: the folder's name)."""
        manifest, _ = validate_folder(Path(folder))
        name = check_name(name or Path(folder).name)
        with self._locked() as state:
            if name in state.adapters:
                raise AdapterError(f"an adapter named {name!r} is already registered")
            dest = self.root / manifest.kind / name
            if dest.exists():
                shutil.rmtree(dest)
            shutil.copytree(folder, dest)
            record = AdapterRecord(
                name=name,
                kind=manifest.kind,
                path=dest,
                registered_at=datetime.now(UTC),
                manifest=manifest,
            )
            state.adapters[name] = record
        return record

    def activate(self, name: str, gate: dict[str, Any] | None = None) -> AdapterRecord:
        """Make ``name`` the active adapter of its kind; ``gate`` records the decision, if any."""
        with self._locked() as state:
            record = _get(state, name)
            if gate is not None:
                record.gate = gate
            _set_active(state, record)
        return record

    def rollback(self, kind: str) -> AdapterRecord | None:
        """Return ``kind`` to the adapter active before the current one (None: no adapter)."""
        kind = _kind(kind)
        with self._locked() as state:
            history = state.history[kind]
            if not history:
                raise AdapterError(f"nothing to roll back: no {kind} adapter was ever activated")
            history.pop()
            previous = history[-1] if history else None
            state.active[kind] = previous
            return state.adapters.get(previous) if previous else None


def _kind(kind: str) -> AdapterKind:
    for k in KINDS:
        if k == kind:
            return k
    raise AdapterError(f"unknown adapter kind {kind!r}; choose one of {', '.join(KINDS)}")


def _get(state: RegistryState, name: str) -> AdapterRecord:
    if name not in state.adapters:
        known = ", ".join(sorted(state.adapters)) or "none"
        raise AdapterError(f"no adapter named {name!r} (registered: {known})")
    return state.adapters[name]


def _set_active(state: RegistryState, record: AdapterRecord) -> None:
    state.active[record.kind] = record.name
    history = state.history.setdefault(record.kind, [])
    if not history or history[-1] != record.name:
        history.append(record.name)


def json_dump(obj: BaseModel | Sequence[BaseModel]) -> str:
    """Pretty JSON of a model or list of models (CLI ``--json`` output)."""
    if not isinstance(obj, BaseModel):
        return json.dumps([o.model_dump(mode="json") for o in obj], indent=2)
    return obj.model_dump_json(indent=2)
