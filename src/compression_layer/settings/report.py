"""The effective settings of an area, key by key, with where each value came from.

What ``compression-layer config show`` prints. Secrets are masked here, not in the printer, so a
caller of :func:`explain` never holds one by accident: a field is secret when it is a
``SecretStr``, is marked ``json_schema_extra={"secret": True}``, or has ``key``, ``token``,
``secret`` or ``password`` as a word of its name; a name ending in ``_env`` holds the *name* of an
environment variable, which is shown, while the variable's value is reported masked.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel, SecretBytes, SecretStr
from pydantic.fields import FieldInfo

from compression_layer.settings.layers import (
    AreaSettings,
    Origin,
    area_files,
    field_shape,
    load_area,
    resolve,
)

MASK = "********"
SECRET_WORDS = frozenset({"key", "apikey", "token", "secret", "password", "passwd", "credential"})


def is_secret(name: str, info: FieldInfo | None = None) -> bool:
    """Whether a setting named ``name`` (declared by ``info``) holds a secret value."""
    if info is not None:
        types = (info.annotation, *get_args(info.annotation))
        if any(t in (SecretStr, SecretBytes) for t in types):
            return True
        extra = info.json_schema_extra
        if isinstance(extra, dict) and extra.get("secret") is True:
            return True
    words = name.lower().replace("-", "_").split("_")
    return words[-1] != "env" and not SECRET_WORDS.isdisjoint(words)


def _names_secret_var(name: str) -> bool:
    words = name.lower().split("_")
    return words[-1] == "env" and not SECRET_WORDS.isdisjoint(words[:-1])


def mask(value: Any) -> Any:
    """``value`` with the values of secret-named keys (at any depth) replaced by ``MASK``."""
    if isinstance(value, dict):
        return {
            k: (MASK if value[k] not in (None, "") and is_secret(str(k)) else mask(value[k]))
            for k in value
        }
    if isinstance(value, list):
        return [mask(v) for v in value]
    return value


@dataclass(frozen=True)
class SettingRow:
    """One effective setting: dotted key, JSON value (masked if secret), origin."""

    key: str
    value: Any
    origin: Origin


@dataclass(frozen=True)
class AreaReport:
    """An area's effective settings, the files it reads, and its secrets in the environment."""

    area: str
    files: list[tuple[Origin, bool]]
    rows: list[SettingRow]
    secrets: dict[str, str | None]


def _secret_vars(model: BaseModel) -> list[str]:
    """Environment variables a model's ``*_key_env``-style fields name, nested ones included."""
    found: list[str] = []
    for name in type(model).model_fields:
        value = getattr(model, name)
        if _names_secret_var(name) and isinstance(value, str) and value:
            found.append(value)
        elif isinstance(value, BaseModel):
            found += _secret_vars(value)
        elif isinstance(value, dict):
            for entry in value.values():
                if isinstance(entry, BaseModel):
                    found += _secret_vars(entry)
    return found


def explain(cls: type[AreaSettings], **overrides: Any) -> AreaReport:
    """Effective settings of ``cls`` with origins; ``overrides`` are flags (``None``: unset).

    Raises :class:`~compression_layer.errors.ConfigError` when the layers do not validate.
    """
    settings = load_area(cls, **overrides)
    res = resolve(cls, {k: v for k, v in overrides.items() if v is not None})
    dumped = settings.model_dump(mode="json")
    rows: list[SettingRow] = []
    for name, info in cls.model_fields.items():
        value = dumped[name]
        shape = field_shape(info)
        if shape == "block":
            nested = getattr(settings, name)
            for sub, sub_info in type(nested).model_fields.items():
                sub_value = value[sub]
                if sub_value is not None and is_secret(sub, sub_info):
                    sub_value = MASK
                key = f"{name}.{sub}"
                rows.append(SettingRow(key, mask(sub_value), res.origin(key)))
        elif shape == "entries" and value:
            rows += [
                SettingRow(f"{name}.{entry}", mask(v), res.origin(f"{name}.{entry}"))
                for entry, v in value.items()
            ]
        else:
            if value is not None and is_secret(name, info):
                value = MASK
            rows.append(SettingRow(name, mask(value), res.origin(name)))
    variables = dict.fromkeys([*cls.secret_env, *_secret_vars(settings)])
    secrets = {var: (MASK if os.environ.get(var) else None) for var in variables}
    files = [(origin, Path(origin.where).is_file()) for origin, _ in area_files(cls)]
    return AreaReport(cls.area(), files, rows, secrets)


def report_json(report: AreaReport) -> dict[str, Any]:
    """``report`` as JSON-able data (what ``config show --json`` prints per area)."""
    return {
        "files": [
            {"source": origin.kind, "path": origin.where, "exists": exists}
            for origin, exists in report.files
        ],
        "settings": {
            row.key: {"value": row.value, "source": row.origin.kind, "from": row.origin.where}
            for row in report.rows
        },
        "secrets": {
            var: {"set": value is not None, "value": value} for var, value in report.secrets.items()
        },
    }
