"""Settings layers: code defaults < packaged files < user config dir < env < flags; no cwd."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import ClassVar

import pytest
from platformdirs import user_config_dir
from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from compression_layer.errors import ConfigError
from compression_layer.settings import (
    AREAS,
    MASK,
    PACKAGED_CONFIG_DIR,
    AreaSettings,
    CompressSettings,
    MemorySettings,
    Origin,
    ServerSettings,
    TrainingSettings,
    ValidationSettings,
    config_dir,
    data_dir,
    explain,
    get_settings,
    is_secret,
    load_area,
    read_yaml,
    resolve,
)
from compression_layer.validation.providers import resolve_model
from repo_paths import REPO


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults() -> None:
    s = load_area(CompressSettings)
    assert s.engine == "auto" and s.rate is None


def test_packaged_catalog_from_any_working_directory(elsewhere: Path) -> None:
    settings = load_area(ValidationSettings)
    assert {"claude", "gpt", "gemini"} <= set(settings.catalog)
    assert {"anthropic", "openai", "gemini", "local"} <= set(settings.providers)
    claude = resolve_model("claude", settings)
    assert (claude.provider, claude.kind, claude.model) == (
        "anthropic",
        "anthropic",
        "claude-haiku-4-5",
    )
    assert claude.input_usd_per_mtok > 0
    assert resolve_model("gpt", settings).kind == "openai"
    assert resolve_model("gemini", settings).kind == "gemini"


def test_the_working_directory_is_never_read(elsewhere: Path) -> None:
    (elsewhere / "configs").mkdir()
    _write(elsewhere / "configs" / "compress.yaml", "rate: 0.3\n")
    _write(elsewhere / "compress.yaml", "rate: 0.3\n")
    assert load_area(CompressSettings).rate is None


def test_user_dir_is_the_platform_config_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COMPRESSION_LAYER_CONFIG_DIR")
    assert config_dir() == Path(user_config_dir("compression-layer", appauthor=False))


def test_precedence_flag_env_user_default(user_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    user = _write(user_dir / "compress.yaml", "rate: 0.3\nengine: structural\n")
    assert load_area(CompressSettings).rate == 0.3  # user file over default
    monkeypatch.setenv("COMPRESSION_LAYER_COMPRESS__RATE", "0.4")
    s = load_area(CompressSettings)
    assert s.rate == 0.4 and s.engine == "structural"  # env over user file, per key
    assert load_area(CompressSettings, rate=0.6).rate == 0.6  # flag over env
    assert load_area(CompressSettings, rate=None).rate == 0.4  # unset flag does not override
    origins = resolve(CompressSettings, {"fact_guard": "off"}).origins
    assert origins["rate"] == Origin("env", "COMPRESSION_LAYER_COMPRESS__RATE")
    assert origins["engine"] == Origin("user", str(user))
    assert origins["fact_guard"] == Origin("flag")
    assert "max_input_bytes" not in origins


def test_user_file_merges_the_catalog_by_entry(user_dir: Path, elsewhere: Path) -> None:
    _write(
        user_dir / "validation.yaml",
        "threshold: 0.9\n"
        "providers:\n"
        "  vllm: {kind: openai-compatible, base_url: 'http://127.0.0.1:8000/v1'}\n"
        "catalog:\n"
        "  claude: {provider: anthropic, model: claude-sonnet-4-5, input_usd_per_mtok: 3.0}\n"
        "  qwen: {provider: vllm, model: Qwen/Qwen3-8B}\n"
        "  gpt-4o-mini: null\n",
    )
    s = load_area(ValidationSettings)
    assert s.threshold == 0.9 and s.budget_usd == 5.0
    claude = s.catalog["claude"]  # replaced whole: no packaged price left behind
    assert (claude.model, claude.input_usd_per_mtok, claude.output_usd_per_mtok) == (
        "claude-sonnet-4-5",
        3.0,
        0.0,
    )
    assert s.catalog["gpt"].model == "gpt-4.1-mini" and "gemini" in s.catalog  # packaged kept
    assert "gpt-4o-mini" not in s.catalog  # null removes
    assert resolve_model("qwen", s).kind == "openai-compatible"
    assert {"anthropic", "openai", "gemini", "vllm"} <= set(s.providers)


def test_env_merges_entries_and_a_flag_replaces_the_mapping(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mine = {"provider": "local", "model": "llama3.2"}
    monkeypatch.setenv("COMPRESSION_LAYER_VALIDATION__CATALOG", json.dumps({"mine": mine}))
    s = load_area(ValidationSettings)
    assert s.catalog["mine"].model == "llama3.2" and "claude" in s.catalog
    assert explain(ValidationSettings).rows  # origins of env entries resolve too
    only = load_area(ValidationSettings, catalog={"only": mine})
    assert set(only.catalog) == {"only"}


def test_option_blocks_merge_key_by_key(user_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write(user_dir / "training.yaml", "iters: 50\ntinker:\n  rank: 16\n")
    monkeypatch.setenv("COMPRESSION_LAYER_TRAINING__TINKER", '{"learning_rate": 0.001}')
    s = load_area(TrainingSettings, tinker={"eval_samples": 2})
    assert (s.iters, s.tinker.rank, s.tinker.learning_rate, s.tinker.eval_samples) == (
        50,
        16,
        0.001,
        2,
    )
    assert s.tinker.base_model == "Qwen/Qwen3-8B"
    res = resolve(TrainingSettings, {"tinker": {"eval_samples": 2}})
    assert res.origin("tinker.rank").kind == "user"
    assert res.origin("tinker.learning_rate").kind == "env"
    assert res.origin("tinker.eval_samples").kind == "flag"
    assert res.origin("tinker.base_model").kind == "default"


def test_relative_paths_in_a_file_are_read_from_its_folder(user_dir: Path, elsewhere: Path) -> None:
    _write(user_dir / "memory.yaml", "db_path: memories/mem.sqlite3\n")
    _write(user_dir / "server.yaml", "roots: [projects, /srv/data, ~/notes]\n")
    assert load_area(MemorySettings).db_path == user_dir / "memories" / "mem.sqlite3"
    roots = load_area(ServerSettings).roots
    assert roots == [user_dir / "projects", Path("/srv/data"), Path("~/notes").expanduser()]


def test_unknown_yaml_key_is_refused_naming_the_file(user_dir: Path) -> None:
    path = _write(user_dir / "memory.yaml", "bogus_key: 1\n")
    with pytest.raises(ConfigError, match=rf"{re.escape(str(path))}.*bogus_key"):
        load_area(MemorySettings)


def test_unknown_nested_key_names_the_file(user_dir: Path) -> None:
    path = _write(user_dir / "training.yaml", "tinker:\n  rnak: 8\n")
    with pytest.raises(ConfigError, match=rf"tinker\.rnak.*{re.escape(str(path))}"):
        load_area(TrainingSettings)


def test_unknown_env_key_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPRESSION_LAYER_COMPRESS__RAET", "0.2")
    with pytest.raises(ConfigError, match="COMPRESSION_LAYER_COMPRESS__RAET"):
        load_area(CompressSettings)


def test_bad_env_json_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPRESSION_LAYER_VALIDATION__CATALOG", "{not json")
    with pytest.raises(ConfigError, match="catalog"):
        load_area(ValidationSettings)


def test_invalid_value_names_the_field_and_its_source(
    user_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigError, match="rate"):
        load_area(CompressSettings, rate=1.5)
    path = _write(user_dir / "compress.yaml", "rate: 1.5\n")
    with pytest.raises(ConfigError, match=rf"rate: .*\(from user {re.escape(str(path))}\)"):
        load_area(CompressSettings)
    monkeypatch.setenv("COMPRESSION_LAYER_COMPRESS__RATE", "2")
    with pytest.raises(ConfigError, match=r"from env COMPRESSION_LAYER_COMPRESS__RATE"):
        load_area(CompressSettings)


@pytest.mark.parametrize(
    ("text", "message"),
    [("rate: [1,\n", "not valid YAML"), ("- rate\n", "expected a mapping")],
)
def test_malformed_yaml_names_the_file(user_dir: Path, text: str, message: str) -> None:
    path = _write(user_dir / "compress.yaml", text)
    with pytest.raises(ConfigError, match=rf"{re.escape(str(path))}: {message}"):
        load_area(CompressSettings)


def test_data_dir_env_override(_isolated_home: Path) -> None:
    assert data_dir(create=False) == _isolated_home and not _isolated_home.exists()
    assert data_dir() == _isolated_home
    assert _isolated_home.is_dir()


def test_get_settings_bundles_areas(elsewhere: Path) -> None:
    s = get_settings()
    assert s.compress.engine == "auto"
    assert s.server.host == "127.0.0.1"
    assert "claude" in s.validation.catalog


def test_packaged_files_are_valid_and_only_for_known_areas() -> None:
    files = sorted(PACKAGED_CONFIG_DIR.glob("*.yaml"))
    assert [p.name for p in files] == ["validation.yaml"]
    known = {cls.yaml_file: cls for cls in AREAS.values()}
    for path in files:
        assert set(read_yaml(path)) <= set(known[path.name].model_fields)


def _uncommented(path: Path) -> str:
    """An example file with its commented settings turned on (``## `` lines are prose)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return "\n".join(
        re.sub(r"^# ?", "", line) if re.match(r"#(?!#)", line) else line for line in lines
    )


@pytest.mark.parametrize("area", sorted(AREAS))
def test_repo_examples_load_and_show_the_defaults(area: str, user_dir: Path) -> None:
    """configs/<area>.yaml, uncommented, is valid, lists every key and shows its default."""
    cls = AREAS[area]
    example = REPO / "configs" / cls.yaml_file
    assert example.is_file(), f"no example for {area}"
    assert read_yaml(example) == {}, "examples are all comments: copying one changes nothing"
    defaults = load_area(cls).model_dump()
    shown_keys = set(read_yaml(_write(user_dir / cls.yaml_file, _uncommented(example))))
    assert shown_keys == set(cls.model_fields), "every key is documented in the example"
    shown = load_area(cls).model_dump()
    for key, value in shown.items():
        if key not in ("catalog", "providers"):  # entries there are examples of additions
            assert value == defaults[key], f"configs/{cls.yaml_file}: {key}"


def test_training_recipe_is_valid() -> None:
    load_area(TrainingSettings, **read_yaml(REPO / "configs" / "gemma-270m-cpu.yaml"))


class DemoSettings(AreaSettings):
    """An area with secrets, for the masking rules."""

    model_config = SettingsConfigDict(env_prefix="COMPRESSION_LAYER_DEMO__", extra="forbid")
    yaml_file: ClassVar[str] = "demo.yaml"
    secret_env: ClassVar[tuple[str, ...]] = ("DEMO_TOKEN",)

    api_key: str | None = None
    password: SecretStr = SecretStr("hunter2")
    opaque: str = Field(default="shh", json_schema_extra={"secret": True})
    service_key_env: str = "DEMO_SERVICE_KEY"
    max_tokens: int = 10


def test_secret_rules() -> None:
    assert is_secret("api_key") and is_secret("password") and is_secret("auth_token")
    assert not is_secret("max_tokens") and not is_secret("api_key_env") and not is_secret("keys")


def test_explain_masks_secrets(user_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write(user_dir / "demo.yaml", "api_key: sk-live-123\n")
    monkeypatch.setenv("DEMO_SERVICE_KEY", "svc-secret-456")
    report = explain(DemoSettings)
    rows = {row.key: row for row in report.rows}
    assert rows["api_key"].value == MASK and rows["api_key"].origin.kind == "user"
    assert rows["opaque"].value == MASK and rows["password"].value not in ("hunter2", None)
    assert rows["service_key_env"].value == "DEMO_SERVICE_KEY" and rows["max_tokens"].value == 10
    assert report.secrets == {"DEMO_TOKEN": None, "DEMO_SERVICE_KEY": MASK}
    dumped = json.dumps([row.value for row in report.rows])
    assert "sk-live-123" not in dumped and "hunter2" not in dumped and "shh" not in dumped
