from __future__ import annotations

from pathlib import Path

import pytest

from compression_layer.errors import ConfigError
from compression_layer.settings import (
    CompressSettings,
    MemorySettings,
    data_dir,
    get_settings,
    load_area,
)
from repo_paths import REPO


def test_defaults() -> None:
    s = load_area(CompressSettings)
    assert s.engine == "auto" and s.rate is None


def test_precedence_flag_env_yaml_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = Path(str(tmp_path / "configs"))
    (cfg / "compress.yaml").write_text("rate: 0.3\nengine: structural\n", encoding="utf-8")
    assert load_area(CompressSettings).rate == 0.3  # YAML over default
    monkeypatch.setenv("COMPRESSION_LAYER_COMPRESS__RATE", "0.4")
    s = load_area(CompressSettings)
    assert s.rate == 0.4 and s.engine == "structural"  # env over YAML
    assert load_area(CompressSettings, rate=0.6).rate == 0.6  # flag over env
    assert load_area(CompressSettings, rate=None).rate == 0.4  # unset flag does not override


def test_unknown_yaml_key_rejected(tmp_path: Path) -> None:
    (tmp_path / "configs" / "memory.yaml").write_text("bogus_key: 1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="bogus_key"):
        load_area(MemorySettings)


def test_unknown_env_key_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPRESSION_LAYER_COMPRESS__RAET", "0.2")
    with pytest.raises(ConfigError, match="COMPRESSION_LAYER_COMPRESS__RAET"):
        load_area(CompressSettings)


def test_invalid_value_names_the_field() -> None:
    with pytest.raises(ConfigError, match="rate"):
        load_area(CompressSettings, rate=1.5)


def test_bad_yaml(tmp_path: Path) -> None:
    (tmp_path / "configs" / "compress.yaml").write_text("rate: [1,\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_area(CompressSettings)


def test_data_dir_env_override(_isolated_home: Path) -> None:
    assert data_dir() == _isolated_home
    assert _isolated_home.is_dir()


def test_get_settings_bundles_areas() -> None:
    s = get_settings()
    assert s.compress.engine == "auto"
    assert s.server.host == "127.0.0.1"


def test_repo_configs_are_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    repo_configs = REPO / "configs"
    monkeypatch.setenv("COMPRESSION_LAYER_CONFIG_DIR", str(repo_configs))
    get_settings.cache_clear()
    get_settings()  # every shipped YAML parses and has only known keys
