"""Settings: one pydantic-settings model per area, defaults declared once (``areas.py``).

Every area (``compress``, ``memory``, ``server``, ``validation``, ``generate``, ``training``,
``generative``, ``adapters``) is built from layers, lowest precedence first:

1. the model's defaults, declared in code;
2. packaged defaults, ``compression_layer/data/config/<area>.yaml`` (shipped in the wheel; today
   only ``validation.yaml``: the model catalog, its prices and the provider endpoints);
3. the user's file ``<config dir>/<area>.yaml``, where the config dir is
   ``$COMPRESSION_LAYER_CONFIG_DIR`` or the platform's (``platformdirs.user_config_dir``:
   ``~/.config/compression-layer`` on Linux);
4. environment variables ``COMPRESSION_LAYER_<AREA>__<KEY>`` (JSON for lists and mappings);
5. values passed in code, which is what CLI flags are (``load_area(cls, **flags)``; ``None``
   means "not given").

Nothing is read from the working directory, so the server started by an MCP client sees the same
settings as a shell anywhere. Each layer sets only the keys it names; the merge rules (option
blocks key by key, catalog entries by name, ``null`` removes an entry) are in ``layers.py``.
Unknown keys, in a file or in the environment, and malformed YAML are :class:`ConfigError`\\ s
naming the file or variable. Memory, caches, cost logs and the adapter registry live in the data
dir: ``$COMPRESSION_LAYER_HOME`` or the platform's user data dir (:func:`data_dir`).

:func:`explain` reports each effective value with its origin, secrets masked
(``compression-layer config show``).
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import BaseModel, ConfigDict

from compression_layer.settings.areas import (
    DEFAULT_BASE_MODEL,
    AdapterSettings,
    CompressSettings,
    GenerateSettings,
    GenerativeSettings,
    LoraParameters,
    MemorySettings,
    OriginalsSettings,
    ServerSettings,
    TinkerOptions,
    TrainingSettings,
    ValidationModel,
    ValidationProvider,
    ValidationSettings,
)
from compression_layer.settings.layers import (
    APP_NAME,
    CONFIG_DIR_ENV,
    ENV_PREFIX,
    HOME_ENV,
    PACKAGED_CONFIG_DIR,
    AreaSettings,
    Origin,
    config_dir,
    data_dir,
    load_area,
    read_yaml,
    resolve,
)
from compression_layer.settings.report import (
    MASK,
    AreaReport,
    SettingRow,
    explain,
    is_secret,
    mask,
    report_json,
)

__all__ = [
    "APP_NAME",
    "AREAS",
    "CONFIG_DIR_ENV",
    "DEFAULT_BASE_MODEL",
    "ENV_PREFIX",
    "HOME_ENV",
    "MASK",
    "PACKAGED_CONFIG_DIR",
    "AdapterSettings",
    "AreaReport",
    "AreaSettings",
    "CompressSettings",
    "GenerateSettings",
    "GenerativeSettings",
    "LoraParameters",
    "MemorySettings",
    "Origin",
    "OriginalsSettings",
    "ServerSettings",
    "SettingRow",
    "Settings",
    "TinkerOptions",
    "TrainingSettings",
    "ValidationModel",
    "ValidationProvider",
    "ValidationSettings",
    "config_dir",
    "data_dir",
    "explain",
    "get_settings",
    "is_secret",
    "load_area",
    "mask",
    "read_yaml",
    "report_json",
    "resolve",
]

AREAS: dict[str, type[AreaSettings]] = {
    cls.area(): cls
    for cls in (
        CompressSettings,
        MemorySettings,
        ServerSettings,
        ValidationSettings,
        GenerateSettings,
        TrainingSettings,
        GenerativeSettings,
        AdapterSettings,
        OriginalsSettings,
    )
}


class Settings(BaseModel):
    """All areas together, as the CLI and server see them."""

    model_config = ConfigDict(frozen=True)

    compress: CompressSettings
    memory: MemorySettings
    server: ServerSettings
    validation: ValidationSettings
    training: TrainingSettings


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings of the main areas from every layer but flags.

    Cached; call ``get_settings.cache_clear()`` to reload.
    """
    return Settings(
        compress=load_area(CompressSettings),
        memory=load_area(MemorySettings),
        server=load_area(ServerSettings),
        validation=load_area(ValidationSettings),
        training=load_area(TrainingSettings),
    )
