"""Hot-swap inside the MCP server: promote B while it serves A, a corrupt adapter, rollback (the
generative kind), and the extractive kind from training to rollback to the packaged default."""

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
PROSE_LONG = (
    "In 1931 the people of the harbour were told by Anna Berg that the old road would be closed "
    "for the whole of the winter, and they were also asked to use the northern path instead, "
    "which was about 12 kilometres longer than usual."
)
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


async def test_extractive_train_register_promote_swap_and_rollback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole extractive loop against a running server: a tiny adapter trained by the real
    trainer is registered and promoted through the CLI, gated against the packaged default
    (the real built-in evaluator, floors lowered: a few steps on 20 rows cannot meet them), the
    server swaps to it without a restart, and a rollback returns it to the packaged default."""
    import json

    from typer.testing import CliRunner

    from adapter_fakes import write_pairs
    from compression_layer.cli.adapters import app as adapters_cli
    from compression_layer.training.extractive import TrainOptions, train_extractive

    trained = tmp_path / "tiny-x"
    opts = TrainOptions(layers=1, epochs=2, batch_units=64)
    train_extractive(write_pairs(tmp_path / "pairs"), trained, opts, command="test")
    for key, value in {
        "MIN_TOKEN_REDUCTION": "-1",
        "MIN_FACT_RETENTION": "0",
        "MIN_ANSWER_RETENTION": "0",
        "TOLERANCE": "1",
        "HELDOUT_ITEMS": "2",
        "HELDOUT_PATH": str(tmp_path / "no-squad"),  # the gate's packaged sample
    }.items():
        monkeypatch.setenv(f"COMPRESSION_LAYER_ADAPTERS__{key}", value)

    def cli(*args: str) -> Any:
        result = CliRunner().invoke(adapters_cli, list(args))
        assert result.exit_code == 0, result.output
        return result

    server = build_server(
        ServerSettings(roots=[tmp_path]),
        compress_settings=CompressSettings(),
        memory=no_memory,
        warm=True,
    )
    async with Client(server) as client:

        async def extractive_status() -> dict[str, Any]:
            result = await client.call_tool("adapter_status", {"kind": "extractive"})
            assert result.structured_content is not None
            (info,) = result.structured_content["adapters"]
            return dict(info)

        async def serving(name: str, source: str) -> bool:
            result = await client.call_tool(
                "compress_context", {"text": PROSE_LONG, "engine": "extractive"}
            )
            assert not result.is_error, result.content
            assert result.structured_content is not None
            status = await extractive_status()
            return result.structured_content["adapter"] == name and (
                status["name"],
                status["source"],
                status["loaded"],
            ) == (name, source, True)

        await until(lambda: serving("extractive-default", "packaged"), "packaged at start")

        cli("register", str(trained))
        promoted = await anyio.to_thread.run_sync(
            lambda: cli("promote", "tiny-x", "--evaluator", "builtin", "--json")
        )
        decision = json.loads(promoted.stdout)
        assert decision["passed"] and decision["metrics"]["evaluator"] == "builtin"
        assert decision["baseline_name"] == "extractive-default"
        assert decision["baseline_source"] == "packaged" and decision["baseline"]["items"] == 2

        await until(lambda: serving("tiny-x", "registry"), "the promoted adapter serves")
        status = await extractive_status()
        assert status["registry_active"] == "tiny-x" and status["swaps"] == 1
        assert status["last_swap"] is not None and status["metrics"]["valid"]["auc"] >= 0
        listed = json.loads(cli("list", "--json").stdout)
        assert {r["name"]: r["active"] for r in listed} == {
            "extractive-default": False,
            "tiny-x": True,
        }

        rolled = cli("rollback", "extractive")
        assert "no extractive adapter is active now" in rolled.stdout
        await until(lambda: serving("extractive-default", "packaged"), "rollback: packaged again")
        status = await extractive_status()
        assert status["registry_active"] is None and status["swaps"] == 2
        assert status["last_error"] is None
