"""Where settings come from: the folders, the layers in order, and how a layer merges in.

Layers, lowest first: the model's defaults (code) < the packaged file
``compression_layer/data/config/<area>.yaml`` < the user file ``<config dir>/<area>.yaml`` <
environment ``COMPRESSION_LAYER_<AREA>__<KEY>`` < values passed in code (CLI flags). The working
directory is never read.

A layer sets only the keys it names. Nested option blocks (``tinker:``, ``lora_parameters:``) merge
key by key; mappings of named entries (the validation ``catalog`` and ``providers``) merge entry by
entry in files and the environment, where an entry replaces the lower layer's entry of that name
whole and ``null`` removes it. A value passed in code replaces the field it names (a mapping
included), except option blocks given as a mapping, which still merge key by key. Relative paths in
a YAML file are read relative to that file's folder; ``~`` is expanded.
"""

from __future__ import annotations

import os
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar, Union, get_args, get_origin

import yaml
from platformdirs import user_config_dir, user_data_dir
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsError,
)

from compression_layer.errors import ConfigError

APP_NAME = "compression-layer"
ENV_PREFIX = "COMPRESSION_LAYER_"
CONFIG_DIR_ENV = f"{ENV_PREFIX}CONFIG_DIR"
HOME_ENV = f"{ENV_PREFIX}HOME"
PACKAGED_CONFIG_DIR = Path(__file__).resolve().parent.parent / "data" / "config"

SourceKind = Literal["default", "packaged", "user", "env", "flag"]
Shape = Literal["plain", "block", "entries"]


def data_dir(*, create: bool = True) -> Path:
    """The data dir: ``$COMPRESSION_LAYER_HOME`` or the platform's user data dir.

    Created on first use unless ``create`` is false.
    """
    home = os.environ.get(HOME_ENV)
    path = Path(home).expanduser() if home else Path(user_data_dir(APP_NAME, appauthor=False))
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def config_dir() -> Path:
    """The user config dir: ``$COMPRESSION_LAYER_CONFIG_DIR`` or the platform's (not created).

    Linux ``~/.config/compression-layer``, macOS
    ``~/Library/Application Support/compression-layer``, Windows
    ``%LOCALAPPDATA%\\compression-layer``.
    """
    env = os.environ.get(CONFIG_DIR_ENV)
    if env:
        return Path(env).expanduser()
    return Path(user_config_dir(APP_NAME, appauthor=False))


@dataclass(frozen=True)
class Origin:
    """Where a value came from: its layer and, for files and env, which file or variable."""

    kind: SourceKind
    where: str = ""

    def __str__(self) -> str:
        return f"{self.kind} {self.where}" if self.where else self.kind


DEFAULT = Origin("default")
FLAG = Origin("flag")


@dataclass
class Resolution:
    """Raw merged values of one area (before validation) and the origin of every key set.

    ``origins`` is keyed by dotted name: ``rate``, ``tinker.rank``, ``catalog.claude``.
    """

    values: dict[str, Any] = field(default_factory=dict)
    origins: dict[str, Origin] = field(default_factory=dict)

    def origin(self, key: str) -> Origin:
        """The origin of ``key``, else of its parent field, else the default."""
        return self.origins.get(key) or self.origins.get(key.partition(".")[0]) or DEFAULT


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def field_shape(info: FieldInfo | None) -> Shape:
    """``block`` for a nested model, ``entries`` for ``dict[str, Model]``, else ``plain``."""
    if info is None:
        return "plain"
    tp = info.annotation
    if _is_model(tp):
        return "block"
    if get_origin(tp) is dict:
        args = get_args(tp)
        if len(args) == 2 and _is_model(args[1]):
            return "entries"
    return "plain"


def _path_kind(tp: Any) -> Literal["one", "list"] | None:
    if tp is Path:
        return "one"
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        return "one" if Path in get_args(tp) else None
    if origin is list and get_args(tp) and get_args(tp)[0] is Path:
        return "list"
    return None


def _drop_below(res: Resolution, key: str) -> None:
    for name in [k for k in res.origins if k.startswith(f"{key}.")]:
        del res.origins[name]


def merge_layer(
    cls: type[BaseModel],
    res: Resolution,
    values: dict[str, Any],
    origin: Origin,
    *,
    whole_entries: bool = False,
) -> None:
    """Merge one layer's ``values`` into ``res`` (see the module docstring for the rules)."""
    for key, value in values.items():
        shape = field_shape(cls.model_fields.get(key))
        current = res.values.get(key)
        if shape == "block" and isinstance(value, dict):
            merged = dict(current) if isinstance(current, dict) else {}
            if not isinstance(current, dict):
                _drop_below(res, key)
                res.origins.pop(key, None)
            for sub, sub_value in value.items():
                merged[sub] = sub_value
                res.origins[f"{key}.{sub}"] = origin
            res.values[key] = merged
        elif shape == "entries" and isinstance(value, dict) and not whole_entries:
            merged = dict(current) if isinstance(current, dict) else {}
            for name, entry in value.items():
                if entry is None:
                    merged.pop(name, None)
                    res.origins.pop(f"{key}.{name}", None)
                else:
                    merged[name] = entry
                    res.origins[f"{key}.{name}"] = origin
            res.values[key] = merged
        else:
            res.values[key] = value
            _drop_below(res, key)
            res.origins[key] = origin


def read_yaml(path: Path) -> dict[str, Any]:
    """A YAML mapping from ``path``; empty or comment-only files give ``{}``."""
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read: {exc}") from exc
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top level")
    return loaded


def _file_layer(cls: type[BaseModel], path: Path) -> dict[str, Any]:
    values = read_yaml(path)
    unknown = sorted(str(k) for k in values if k not in cls.model_fields)
    if unknown:
        known = ", ".join(sorted(cls.model_fields))
        raise ConfigError(f"{path}: unknown key(s) {', '.join(unknown)} (known: {known})")
    for key, value in values.items():
        kind = _path_kind(cls.model_fields[key].annotation)
        if kind == "one" and isinstance(value, str):
            values[key] = _relative_to(path.parent, value)
        elif kind == "list" and isinstance(value, list):
            values[key] = [_relative_to(path.parent, v) if isinstance(v, str) else v for v in value]
    return values


def _relative_to(base: Path, value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


def area_files(cls: type[AreaSettings]) -> list[tuple[Origin, Path]]:
    """The area's packaged and user YAML paths, whether they exist or not."""
    if not cls.yaml_file:
        return []
    packaged, user = PACKAGED_CONFIG_DIR / cls.yaml_file, config_dir() / cls.yaml_file
    return [(Origin("packaged", str(packaged)), packaged), (Origin("user", str(user)), user)]


def _env_name(prefix: str, key: str) -> str:
    wanted = f"{prefix}{key}".upper()
    return next((name for name in os.environ if name.upper() == wanted), wanted)


def resolve(cls: type[AreaSettings], overrides: dict[str, Any] | None = None) -> Resolution:
    """Merge every layer of ``cls`` below validation; ``overrides`` are the flag layer."""
    res = Resolution()
    for origin, path in area_files(cls):
        if path.is_file():
            merge_layer(cls, res, _file_layer(cls, path), origin)
    prefix = str(cls.model_config.get("env_prefix", ""))
    try:
        env_values = EnvSettingsSource(cls)()
    except SettingsError as exc:
        raise ConfigError(f"{prefix}*: {exc}") from exc
    for key, value in env_values.items():
        merge_layer(cls, res, {key: value}, Origin("env", _env_name(prefix, key)))
    merge_layer(cls, res, dict(overrides or {}), FLAG, whole_entries=True)
    return res


class _LayeredSource(PydanticBaseSettingsSource):
    """The one source of an area: every layer merged by :func:`resolve`, init kwargs on top."""

    def __init__(self, settings_cls: type[AreaSettings], init: PydanticBaseSettingsSource) -> None:
        super().__init__(settings_cls)
        self.area_cls = settings_cls
        self.init = init

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        return resolve(self.area_cls, self.init()).values


class AreaSettings(BaseSettings):
    """Base of every area: unknown keys are refused; values come through the layers above.

    ``yaml_file`` names the area's file (in the package and in the user config dir);
    ``secret_env`` lists environment variables holding secrets the area uses (shown masked).
    """

    yaml_file: ClassVar[str] = ""
    secret_env: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (_LayeredSource(cls, init_settings),)

    @classmethod
    def area(cls) -> str:
        """The area's name: its YAML file's stem (``compress``, ``validation``, ...)."""
        return cls.yaml_file.removesuffix(".yaml") or cls.__name__


T = TypeVar("T", bound=AreaSettings)


def _unknown_env(cls: type[AreaSettings]) -> list[str]:
    prefix = str(cls.model_config.get("env_prefix", "")).upper()
    if not prefix:
        return []
    return sorted(
        key
        for key in os.environ
        if key.upper().startswith(prefix) and key[len(prefix) :].lower() not in cls.model_fields
    )


def load_area(cls: type[T], **overrides: Any) -> T:
    """Build one area's settings; ``overrides`` (CLI flags; ``None`` means unset) win.

    Errors are :class:`ConfigError` naming the bad keys and the file or variable they came from.
    """
    clean = {k: v for k, v in overrides.items() if v is not None}
    unknown_env = _unknown_env(cls)
    if unknown_env:
        raise ConfigError(f"unknown settings in the environment: {', '.join(unknown_env)}")
    try:
        return cls(**clean)
    except ValidationError as exc:
        res = resolve(cls, clean)
        problems = []
        for err in exc.errors():
            loc = [str(p) for p in err["loc"]]
            where = res.origin(".".join(loc[:2])) if loc else DEFAULT
            source = "" if where.kind == "default" else f" (from {where})"
            problems.append(f"{'.'.join(loc) or '<root>'}: {err['msg']}{source}")
        raise ConfigError(f"invalid {cls.area()} settings: {'; '.join(problems)}") from exc
