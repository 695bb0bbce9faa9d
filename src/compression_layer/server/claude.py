"""``install-claude``: merge our entry into Claude Desktop's ``claude_desktop_config.json``.

The merge keeps every other server and setting, backs the file up (timestamped) before writing,
and writes nothing when our entry is already there as wanted, so running it twice is harmless.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from compression_layer.errors import ConfigError

SERVER_KEY = "compression-layer"


def default_config_path() -> Path:
    """Claude Desktop's config file on this platform."""
    home = Path.home()
    if sys.platform == "darwin":
        return home / "Library/Application Support/Claude/claude_desktop_config.json"
    if sys.platform == "win32":
        appdata = os.environ.get("APPDATA")
        base = Path(appdata) if appdata else home / "AppData/Roaming"
        return base / "Claude/claude_desktop_config.json"
    xdg = os.environ.get("XDG_CONFIG_HOME")
    return (Path(xdg) if xdg else home / ".config") / "Claude/claude_desktop_config.json"


@dataclass
class InstallOutcome:
    path: Path
    changed: bool
    backup: Path | None
    config: dict[str, Any]


def merged_config(existing: dict[str, Any], entry: dict[str, Any]) -> dict[str, Any]:
    """``existing`` with ``mcpServers["compression-layer"] = entry``; nothing else moves."""
    servers = existing.get("mcpServers", {})
    if not isinstance(servers, dict):
        raise ConfigError("'mcpServers' in the Claude Desktop config is not an object")
    return {**existing, "mcpServers": {**servers, SERVER_KEY: entry}}


def read_config(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    if not text.strip():
        return {}
    try:
        loaded = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{path}: not valid JSON (line {exc.lineno}); fix or move it, then run again"
        ) from None
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: expected a JSON object at the top level")
    return loaded


def install(entry: dict[str, Any], path: Path | None = None) -> InstallOutcome:
    """Write our entry into the config at ``path`` (default: the platform's), with a backup."""
    target = path or default_config_path()
    existing = read_config(target)
    merged = merged_config(existing, entry)
    if target.exists() and merged == existing:
        return InstallOutcome(target, False, None, merged)
    backup = None
    if target.exists():
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S-%f")
        backup = target.with_name(f"{target.name}.{stamp}.bak")
        shutil.copy2(target, backup)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    # Write then rename: a crash mid-write never leaves Claude Desktop a truncated config.
    tmp.write_text(json.dumps(merged, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, target)
    return InstallOutcome(target, True, backup, merged)
