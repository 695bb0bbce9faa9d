"""``install-claude`` and ``serve`` argument checks, on a fresh Typer app via ``register``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from compression_layer.cli.serve import register


@pytest.fixture
def app() -> typer.Typer:
    fresh = typer.Typer()
    register(fresh)
    return fresh


def run(app: typer.Typer, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_install_creates_then_is_idempotent(app: typer.Typer, tmp_path: Path) -> None:
    config = tmp_path / "Claude" / "claude_desktop_config.json"
    code, _, err = run(app, "install-claude", "--config", str(config), "--root", str(tmp_path))
    assert code == 0, err
    entry = json.loads(config.read_text(encoding="utf-8"))["mcpServers"]["compression-layer"]
    assert Path(entry["command"]).is_absolute()
    assert entry["args"][-1] == "serve"
    assert json.loads(entry["env"]["COMPRESSION_LAYER_SERVER__ROOTS"]) == [str(tmp_path.resolve())]
    before = config.read_text(encoding="utf-8")
    code, _, err = run(app, "install-claude", "--config", str(config), "--root", str(tmp_path))
    assert code == 0 and "already up to date" in err
    assert config.read_text(encoding="utf-8") == before
    assert list(config.parent.glob("*.bak")) == []


def test_install_preserves_other_servers_and_backs_up(app: typer.Typer, tmp_path: Path) -> None:
    config = tmp_path / "claude_desktop_config.json"
    existing = {
        "globalShortcut": "Ctrl+Space",
        "mcpServers": {"other": {"command": "other-server", "args": ["--x"]}},
    }
    config.write_text(json.dumps(existing), encoding="utf-8")
    code, _, err = run(app, "install-claude", "--config", str(config))
    assert code == 0, err
    merged = json.loads(config.read_text(encoding="utf-8"))
    assert merged["globalShortcut"] == "Ctrl+Space"
    assert merged["mcpServers"]["other"] == existing["mcpServers"]["other"]
    assert "compression-layer" in merged["mcpServers"]
    backups = list(tmp_path.glob("claude_desktop_config.json.*.bak"))
    assert len(backups) == 1
    assert json.loads(backups[0].read_text(encoding="utf-8")) == existing


def test_print_only_writes_nothing(app: typer.Typer, tmp_path: Path) -> None:
    config = tmp_path / "claude_desktop_config.json"
    code, out, _ = run(app, "install-claude", "--config", str(config), "--print")
    assert code == 0
    assert "compression-layer" in json.loads(out)["mcpServers"]
    assert not config.exists()


def test_invalid_config_is_refused_untouched(app: typer.Typer, tmp_path: Path) -> None:
    config = tmp_path / "claude_desktop_config.json"
    config.write_text("{not json", encoding="utf-8")
    code, _, err = run(app, "install-claude", "--config", str(config))
    assert code == 2 and "not valid JSON" in err
    assert config.read_text(encoding="utf-8") == "{not json"


def test_serve_refuses_public_bind_without_token(app: typer.Typer) -> None:
    code, _, err = run(app, "serve", "--transport", "http", "--host", "0.0.0.0", "--port", "1")
    assert code == 2
    assert "refusing to bind 0.0.0.0" in err and "COMPRESSION_LAYER_TOKEN" in err


def test_serve_rejects_unknown_transport(app: typer.Typer) -> None:
    code, _, err = run(app, "serve", "--transport", "carrier-pigeon")
    assert code == 2 and "unknown transport" in err
