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

The adapter shipped inside the package (``extractive-default``) is never copied in: it is the
built-in default of its kind, shown by :meth:`AdapterRegistry.show` and
:meth:`AdapterRegistry.packaged` with ``source="packaged"``, and it serves whenever no adapter
of its kind is active (:meth:`AdapterRegistry.effective`).
"""

from __future__ import annotations

import builtins
import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from compression_layer.adapters.check import check_name, validate_folder
from compression_layer.adapters.manifest import (
    KINDS,
    AdapterError,
    AdapterKind,
    Manifest,
    read_manifest,
)
from compression_layer.settings import data_dir

__all__ = ["PACKAGED", "AdapterError", "AdapterRecord", "AdapterRegistry", "packaged_dir"]

REGISTRY_FILE = "registry.json"
# The adapter each kind ships with inside the package (none for generative: base models are
# hundreds of MB and platform-bound).
PACKAGED: dict[AdapterKind, str] = {"extractive": "extractive-default"}


def packaged_dir(kind: str) -> Path | None:
    """Folder of the adapter packaged for ``kind``, or None when the package ships none."""
    name = PACKAGED.get(_kind(kind))
    if name is None:
        return None
    return Path(str(resources.files("compression_layer").joinpath("data/adapters", name)))


class AdapterRecord(BaseModel):
    """One adapter the registry knows: a registered copy, or the packaged built-in default."""

    name: str
    kind: AdapterKind
    path: Path
    source: Literal["registry", "packaged"] = Field(
        default="registry",
        description="registry: a copy under the registry; packaged: shipped in the package, "
        "the built-in default that serves while no adapter of its kind is active",
    )
    registered_at: datetime | None = Field(
        default=None, description="when it was registered (None for the packaged one)"
    )
    manifest: Manifest
    gate: dict[str, Any] | None = Field(
        default=None, description="the last gate decision, if promoted"
    )

    @property
    def builtin(self) -> bool:
        return self.source == "packaged"


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
        """Every registered adapter, by kind then name (packaged: :meth:`packaged_records`)."""
        return sorted(self.load().adapters.values(), key=lambda r: (r.kind, r.name))

    def packaged_records(self) -> builtins.list[AdapterRecord]:
        """The packaged adapters, one per kind that ships one."""
        return [r for r in (self.packaged(k) for k in KINDS) if r is not None]

    def packaged(self, kind: str) -> AdapterRecord | None:
        """The packaged adapter of ``kind`` as a record (``source="packaged"``), if any."""
        folder = packaged_dir(kind)
        if folder is None:
            return None
        return AdapterRecord(
            name=folder.name,
            kind=_kind(kind),
            path=folder,
            source="packaged",
            manifest=read_manifest(folder),
        )

    def show(self, name: str) -> AdapterRecord:
        """One adapter by name, registered or packaged; AdapterError lists the known ones."""
        state = self.load()
        if name in state.adapters:
            return state.adapters[name]
        for kind, packaged in PACKAGED.items():
            if name == packaged:
                record = self.packaged(kind)
                if record is not None:
                    return record
        known = ", ".join(sorted(state.adapters)) or "none"
        builtin = ", ".join(sorted(PACKAGED.values()))
        raise AdapterError(f"no adapter named {name!r} (registered: {known}; built-in: {builtin})")

    def active_name(self, kind: str) -> str | None:
        """The registry's active adapter of ``kind`` (None: the built-in default serves)."""
        return self.load().active.get(_kind(kind))

    def active_record(self, kind: str) -> AdapterRecord | None:
        state = self.load()
        name = state.active.get(_kind(kind))
        return state.adapters.get(name) if name else None

    def effective(self, kind: str) -> AdapterRecord | None:
        """What serves ``kind`` by the registry's word: the active adapter, else the packaged
        default (None for a kind with neither)."""
        return self.active_record(kind) or self.packaged(kind)

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
        if name in PACKAGED.values():
            raise AdapterError(
                f"{name!r} is the name of the built-in packaged adapter, which needs no "
                "registering (it serves while no adapter of its kind is active); register a "
                "copy under another name with --name"
            )
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
    if name in PACKAGED.values() and name not in state.adapters:
        kind = next(k for k, v in PACKAGED.items() if v == name)
        raise AdapterError(
            f"{name!r} is the built-in default: it serves whenever no {kind} adapter is active, "
            f"so it is never activated; `compression-layer adapters rollback {kind}` walks back "
            "to it"
        )
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
