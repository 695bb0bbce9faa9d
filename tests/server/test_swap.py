"""Hot-swap inside the MCP server: promote B while it serves A, a corrupt adapter, rollback."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from adapter_fakes import FakeEvaluator, force_active
from compression_layer.adapters.registry import AdapterRegistry
from compression_layer.server.app import build_server
from compression_layer.settings import CompressSettings, ServerSettings
from compression_layer.training.gate import promote

TEXT = "The meeting moved to Tuesday in room 42 with Ada."
GOOD = (0.5, 1.0, 1.0)  # gate metrics for the fake evaluator: tiny random models fail real ones


@asynccontextmanager
async def no_memory(_: Any) -> AsyncIterator[None]:
    yield None


async def compress_with(client: Client) -> dict[str, Any]:
    result = await client.call_tool("compress_context", {"text": TEXT, "engine": "generative"})
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return result.structured_content


async def status_of(client: Client) -> dict[str, Any]:
    result = await client.call_tool("adapter_status", {"kind": "generative"})
    assert result.structured_content is not None
    (info,) = result.structured_content["adapters"]
    return dict(info)


async def until(check: Any, what: str) -> None:
    with anyio.fail_after(30):
        while not await check():
            await anyio.sleep(0.05)


async def test_promote_swap_corrupt_and_rollback_in_server(
    tiny_model: Path,
    tiny_adapters: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COMPRESSION_LAYER_GENERATIVE__BASE_MODEL", str(tiny_model))
    registry = AdapterRegistry()
    for name in ("a", "b"):
        registry.register(tiny_adapters[name], name=name)
    gate = FakeEvaluator({"a": GOOD, "b": GOOD, "bad": GOOD})
    promote(registry, "a", evaluator=gate)

    server = build_server(
        ServerSettings(roots=[tmp_path]),
        compress_settings=CompressSettings(),
        memory=no_memory,
        warm=True,
    )
    async with Client(server) as client:

        async def serving(name: str) -> bool:
            return (await compress_with(client))["adapter"] == name

        await until(lambda: serving("a"), "A serves after start")
        assert (await status_of(client))["name"] == "a"

        promote(registry, "b", evaluator=gate)  # while the server runs
        await until(lambda: serving("b"), "B serves after promotion")
        status = await status_of(client)
        assert status["name"] == "b" and status["last_swap"] is not None
        assert status["source"] == "registry"

        # A corrupt adapter forced into the pointer: B keeps serving, the error is shown.
        corrupt = tmp_path / "corrupt"
        shutil.copytree(tiny_adapters["b"], corrupt)
        weights = corrupt / "adapters.safetensors"
        weights.write_bytes(weights.read_bytes()[:64])
        force_active(registry, corrupt, "bad")  # a hand edit, bypassing register's checks

        async def error_shown() -> bool:
            return bool((await status_of(client))["last_error"])

        await until(error_shown, "load error in adapter_status")
        assert (await compress_with(client))["adapter"] == "b"

        registry.rollback("generative")  # back to b from the bad pointer
        registry.rollback("generative")  # and back to a
        await until(lambda: serving("a"), "rollback returns to A")


@pytest.mark.slow
async def test_promote_while_a_stdio_process_serves(
    tiny_model: Path, tiny_adapters: dict[str, Path], tmp_path: Path
) -> None:
    import json
    import os
    import sys

    from mcp.client.stdio import StdioServerParameters

    home = tmp_path / "data"
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "HF_HUB_OFFLINE": "1",
        "COMPRESSION_LAYER_HOME": str(home),
        "COMPRESSION_LAYER_CONFIG_DIR": str(tmp_path / "configs"),
        "COMPRESSION_LAYER_SERVER__ROOTS": json.dumps([str(tmp_path)]),
        "COMPRESSION_LAYER_GENERATIVE__BASE_MODEL": str(tiny_model),
    }
    registry = AdapterRegistry(home / "adapters")  # the process's registry, under its home
    for name in ("a", "b"):
        registry.register(tiny_adapters[name], name=name)
    gate = FakeEvaluator({"a": GOOD, "b": GOOD})
    promote(registry, "a", evaluator=gate)
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "compression_layer.server", "serve"],
        env=env,
        cwd=str(tmp_path),
    )
    async with Client(params, read_timeout_seconds=180) as client:

        async def serving(name: str) -> bool:
            return (await compress_with(client))["adapter"] == name

        await until(lambda: serving("a"), "A serves in the process")
        promote(registry, "b", evaluator=gate)
        await until(lambda: serving("b"), "B serves after promotion, no restart")
        assert (await status_of(client))["name"] == "b"
