"""Cold start: ``--help`` never loads a model runtime, a provider SDK or the server stack.

Not a timing test (``bench/cold_start.py`` measures the time): a fresh interpreter imports the
CLI, renders the help of every command in the click tree, and reports which heavy modules ended
up in ``sys.modules``. Commands import these inside their functions, where they are used.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

# Never loaded to print help.
HEAVY = (
    "torch",
    "transformers",
    "onnxruntime",
    "sentence_transformers",
    "tokenizers",
    "mlx",
    "mlx_lm",
    "anthropic",
    "openai",
    "google.genai",
    "tinker",
    "uvicorn",
    "starlette",
    "mcp",
    "numpy",
    "aiosqlite",
    "tiktoken",
)

GROUPS = (
    "train",
    "eval",
    "validate",
    "memory",
    "adapters",
    "config",
    "serve",
    "install-claude",
    "compress",
    "tokens",
    "retrieve",
)

# Runs in a fresh interpreter: render the help of every command path, then list what is loaded.
PROBE = """
import contextlib, io, json, sys

import typer

from compression_layer.cli.main import app

def paths(command, prefix):
    yield prefix
    for name, sub in getattr(command, "commands", {}).items():  # groups (typer's own click)
        yield from paths(sub, [*prefix, name])

root = typer.main.get_command(app)
helped, failed = [], []
for path in paths(root, []):
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            root.main([*path, "--help"], prog_name="compression-layer")
        except SystemExit as exc:
            (helped if exc.code == 0 else failed).append(" ".join(path))
json.dump({"helped": helped, "failed": failed, "modules": sorted(sys.modules)}, sys.stdout)
"""


def _probe() -> dict[str, list[str]]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200"}
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, env=env
    )
    assert out.returncode == 0, out.stderr
    result: dict[str, list[str]] = json.loads(out.stdout)
    return result


def _loaded(modules: list[str], names: tuple[str, ...]) -> list[str]:
    found = set(modules)
    return [n for n in names if n in found or any(m.startswith(n + ".") for m in found)]


@pytest.fixture(scope="module")
def probe() -> dict[str, list[str]]:
    return _probe()


def test_help_of_every_command_renders(probe: dict[str, list[str]]) -> None:
    assert not probe["failed"]
    for group in GROUPS:
        assert group in probe["helped"]
    assert "" in probe["helped"]  # the top level
    assert len(probe["helped"]) > len(GROUPS)  # the groups' own commands too


def test_help_loads_no_heavy_module(probe: dict[str, list[str]]) -> None:
    assert _loaded(probe["modules"], HEAVY) == []


def test_top_level_help_lists_every_group() -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200"}
    out = subprocess.run(
        [sys.executable, "-m", "compression_layer.cli", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert out.returncode == 0, out.stderr
    listed = {line.strip(" │|").split(" ")[0] for line in out.stdout.splitlines()}
    assert set(GROUPS) <= listed, out.stdout
