"""``compression-layer config show|path``, and ``validate`` finding its models from any folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from compression_layer.cli import validate
from compression_layer.cli.config import app
from compression_layer.settings import AREAS, MASK, PACKAGED_CONFIG_DIR
from val_fake_api import FakeAPI
from val_settings import KEYS

runner = CliRunner()


def _show(*args: str) -> dict[str, dict[str, object]]:
    result = runner.invoke(app, ["show", *args, "--json"])
    assert result.exit_code == 0, result.output
    data: dict[str, dict[str, object]] = json.loads(result.stdout)
    return data


def test_show_every_area_with_sources(
    user_dir: Path, elsewhere: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = user_dir / "compress.yaml"
    user.write_text("rate: 0.3\nengine: structural\n", encoding="utf-8")
    monkeypatch.setenv("COMPRESSION_LAYER_COMPRESS__ENGINE", "extractive")
    data = _show()
    assert list(data) == list(AREAS)
    compress = data["compress"]["settings"]
    assert isinstance(compress, dict)
    assert compress["rate"] == {"value": 0.3, "source": "user", "from": str(user)}
    assert compress["engine"] == {
        "value": "extractive",
        "source": "env",
        "from": "COMPRESSION_LAYER_COMPRESS__ENGINE",
    }
    assert compress["fact_guard"] == {"value": "append", "source": "default", "from": ""}
    catalog = data["validation"]["settings"]
    assert isinstance(catalog, dict)
    claude = catalog["catalog.claude"]
    assert claude["source"] == "packaged"
    assert claude["from"] == str(PACKAGED_CONFIG_DIR / "validation.yaml")
    assert claude["value"]["model"] == "claude-haiku-4-5"


def test_show_text_names_each_source(user_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    user = user_dir / "compress.yaml"
    user.write_text("rate: 0.3\n", encoding="utf-8")
    monkeypatch.setenv("COMPRESSION_LAYER_COMPRESS__LOG_MIN_REPEAT", "3")
    result = runner.invoke(app, ["show", "compress"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "[compress]"
    assert f"  user file: {user}" in lines
    assert any(line.split() == ["rate", "=", "0.3", "<-", "user", str(user)] for line in lines)
    assert any(
        line.endswith("= 3  <- env COMPRESSION_LAYER_COMPRESS__LOG_MIN_REPEAT") for line in lines
    )
    assert any(
        line.split()[:3] == ["engine", "=", "auto"] and line.endswith("<- default")
        for line in lines
    )
    assert "[memory]" not in result.stdout


def test_show_masks_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("COMPRESSION_LAYER_TOKEN", "bearer-SECRET-0000")
    text = runner.invoke(app, ["show"])
    as_json = runner.invoke(app, ["show", "--json"])
    for result in (text, as_json):
        assert result.exit_code == 0, result.output
        for secret in (*KEYS.values(), "bearer-SECRET-0000"):
            assert secret not in result.output
    assert f"    ANTHROPIC_API_KEY = {MASK}" in text.stdout
    assert f"    COMPRESSION_LAYER_TOKEN = {MASK}" in text.stdout
    secrets = json.loads(as_json.stdout)["server"]["secrets"]
    assert secrets == {"COMPRESSION_LAYER_TOKEN": {"set": True, "value": MASK}}
    monkeypatch.delenv("GEMINI_API_KEY")
    assert "    GEMINI_API_KEY (not set)" in runner.invoke(app, ["show", "validation"]).stdout


def test_show_refuses_an_unknown_area() -> None:
    result = runner.invoke(app, ["show", "compres"])
    assert result.exit_code == 2
    assert "unknown area 'compres'" in result.stderr and "compress" in result.stderr


def test_a_broken_file_is_named_and_the_other_areas_still_show(user_dir: Path) -> None:
    bad = user_dir / "memory.yaml"
    bad.write_text("near_duplicate_policy: [skip,\n", encoding="utf-8")
    result = runner.invoke(app, ["show", "--json"])
    assert result.exit_code == 2
    assert f"{bad}: not valid YAML" in result.stderr
    data = json.loads(result.stdout)
    assert "error" in data["memory"] and "settings" in data["compress"]


def test_path(user_dir: Path, _isolated_home: Path) -> None:
    (user_dir / "compress.yaml").write_text("rate: 0.5\n", encoding="utf-8")
    (user_dir / "compresion.yaml").write_text("rate: 0.5\n", encoding="utf-8")
    result = runner.invoke(app, ["path", "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["config_dir"] == str(user_dir) and info["data_dir"] == str(_isolated_home)
    assert info["packaged_config_dir"] == str(PACKAGED_CONFIG_DIR)
    assert info["user_files"] == ["compresion.yaml", "compress.yaml"]
    assert info["unknown_files"] == ["compresion.yaml"]
    text = runner.invoke(app, ["path"])
    assert f"config dir: {user_dir}" in text.stdout
    assert "compresion.yaml is not read" in text.stderr
    assert not _isolated_home.exists()  # printing the data dir does not create it


def test_validate_resolves_claude_from_any_folder(
    fake_api: FakeAPI, keys: dict[str, str], user_dir: Path, elsewhere: Path
) -> None:
    """The catalog entry is packaged; the user's file only points its provider at the fake."""
    anthropic = {"kind": "anthropic", "base_url": fake_api.url, "api_key_env": "ANTHROPIC_API_KEY"}
    providers = {"anthropic": anthropic}
    config = {"providers": providers, "max_retries": 0, "timeout_s": 5.0}
    (user_dir / "validation.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    original = elsewhere / "original.txt"
    original.write_text("The bridge opened in 1932 and carries 160,000 vehicles a day.", "utf-8")
    compressed = "Bridge opened 1932; 160,000 vehicles/day."
    result = runner.invoke(
        validate.app,
        ["pair", str(original), "-", "--models", "claude", "--json"],
        input=compressed,
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["models"][0]["model"] == "claude"
    sent = [r for r in fake_api.requests if r.body is not None]
    assert sent and {r.api for r in sent} == {"anthropic"}
    assert {r.body["model"] for r in sent if r.body} == {"claude-haiku-4-5"}  # packaged entry
    auth = {k.lower(): v for r in sent for k, v in r.headers.items()}
    key = auth.get("x-api-key") or auth.get("authorization", "").removeprefix("Bearer ")
    assert key == keys["ANTHROPIC_API_KEY"]  # read from the variable it names
