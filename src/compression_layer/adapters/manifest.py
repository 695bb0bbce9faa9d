"""``manifest.json``: the one description every adapter folder carries, whoever trained it.

Every trainer (``train extractive``, ``train mlx``, ``train tinker``) builds a :class:`Manifest`
and writes it with :func:`write_manifest`; the registry, the folder check and the engines read it
back with :func:`read_manifest`. The common fields are typed; what only one kind or trainer knows
(rows used, options, the Tinker paths, ...) rides along as extra fields and is kept on a round
trip. Folders written before the field names were unified (``training_data_hash``,
``eval_metrics``: the extractive trainer's old names) still read.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from compression_layer.errors import CompressionLayerError

AdapterKind = Literal["extractive", "generative"]
KINDS: tuple[AdapterKind, ...] = ("extractive", "generative")
MANIFEST = "manifest.json"

# Old name -> current name. Read-only: nothing writes the old names any more.
LEGACY_FIELDS = {"training_data_hash": "data_hash", "eval_metrics": "metrics"}


class AdapterError(CompressionLayerError, ValueError):
    """An adapter folder or registry operation is invalid; the message lists every problem."""


def now() -> datetime:
    """``created_at`` for a manifest written now: UTC, whole seconds."""
    return datetime.now(UTC).replace(microsecond=0)


class Manifest(BaseModel):
    """What an adapter is, what it was trained on and how it scored."""

    model_config = ConfigDict(extra="allow")

    kind: AdapterKind
    name: str | None = Field(default=None, description="the name it was trained under")
    base_model: str = Field(description="model the adapter runs on (id or folder)")
    data_hash: str = Field(description="'sha256:<hex>' of the training data files")
    metrics: dict[str, Any] = Field(
        default_factory=dict, description="evaluation figures, as the trainer measured them"
    )
    created_at: datetime = Field(description="when training finished (UTC)")
    command: str = Field(default="", description="the command line that trained it")

    @model_validator(mode="before")
    @classmethod
    def _legacy_names(cls, data: Any) -> Any:
        """Accept the extractive trainer's old names; refuse an old and a new that disagree."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for old, new in LEGACY_FIELDS.items():
            if old not in data:
                continue
            value = data.pop(old)
            if new in data and data[new] != value:
                raise ValueError(f"both {old!r} (old name) and {new!r} are set and differ")
            data.setdefault(new, value)
        return data

    @property
    def extra(self) -> dict[str, Any]:
        """The kind- or trainer-specific fields beyond the common ones."""
        return dict(self.model_extra or {})

    def to_json(self) -> dict[str, Any]:
        """Plain JSON data: common fields first, then the extras, ``None`` name left out."""
        data = self.model_dump(mode="json")
        if data.get("name") is None:
            data.pop("name", None)
        return data


def manifest_problems(data: Any) -> tuple[Manifest | None, list[str]]:
    """Validate raw manifest data; every problem as ``manifest.json: <field>: <message>``."""
    try:
        return Manifest.model_validate(data), []
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "<root>"
            problems.append(f"{MANIFEST}: {where}: {err['msg']}")
        return None, problems


def read_manifest(folder: Path) -> Manifest:
    """The manifest of an adapter folder; :class:`AdapterError` lists what is wrong with it."""
    path = Path(folder) / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise AdapterError(f"{folder}: missing {MANIFEST}") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AdapterError(f"{path}: {MANIFEST} is not readable JSON: {exc}") from exc
    manifest, problems = manifest_problems(data)
    if manifest is None:
        raise AdapterError(f"{path} is invalid:\n" + "\n".join(f"  - {p}" for p in problems))
    return manifest


def write_manifest(folder: Path, manifest: Manifest) -> Path:
    """Write ``manifest.json`` into ``folder`` whole (temp file + rename); returns its path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    text = json.dumps(manifest.to_json(), indent=2, ensure_ascii=False) + "\n"
    tmp = folder / f".{MANIFEST}.tmp"
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, folder / MANIFEST)
    finally:
        tmp.unlink(missing_ok=True)
    return folder / MANIFEST
