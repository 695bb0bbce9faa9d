"""EngineState snapshots, and what adapter_status says about a configured extractive adapter."""

from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from mcp import Client

from adapter_fakes import packaged_copy
from compression_layer.server.app import build_server
from compression_layer.server.state import EngineState, ServerState
from compression_layer.settings import CompressSettings
from srv_helpers import CODE, PROSE, server_settings, structured


def test_swap_replaces_the_snapshot_atomically(tmp_path: Path) -> None:
    state = EngineState(CompressSettings())
    before = state.current
    after = state.swap(CompressSettings(extractive_adapter=str(tmp_path / "v2")))
    assert after.generation == before.generation + 1
    assert before.settings.extractive_adapter is None  # in-flight calls keep their snapshot
    assert state.current.settings.extractive_adapter == str(tmp_path / "v2")
    again = state.swap()  # same settings, a new generation
    assert again.generation == 2 and again.settings == after.settings


def _server(root: Path, settings: CompressSettings, holder: dict[str, ServerState]) -> Any:
    @asynccontextmanager
    async def memory(state: ServerState) -> Any:
        holder["state"] = state
        yield None

    return build_server(server_settings(root), compress_settings=settings, memory=memory)


async def test_a_missing_configured_adapter_is_reported_and_auto_still_works(
    root: Path, tmp_path: Path
) -> None:
    holder: dict[str, ServerState] = {}
    bad = CompressSettings(extractive_adapter=str(tmp_path / "missing-adapter"))
    async with Client(_server(root, bad, holder)) as client:
        assert holder["state"].warmed.wait(timeout=120)
        status = structured(await client.call_tool("adapter_status", {"kind": "extractive"}))
        (extractive,) = status["adapters"]
        assert extractive["source"] == "configured" and extractive["name"] == "missing-adapter"
        assert not extractive["loaded"] and "missing-adapter" in extractive["last_error"]
        # auto still works: prose falls back, code goes structural.
        out = structured(await client.call_tool("compress_context", {"text": CODE}))
        assert out["engine"] == "structural"


async def test_a_configured_adapter_serves_and_says_so(root: Path, tmp_path: Path) -> None:
    mine = packaged_copy(tmp_path / "configured-one")
    holder: dict[str, ServerState] = {}
    settings = CompressSettings(extractive_adapter=str(mine))
    async with Client(_server(root, settings, holder)) as client:
        assert holder["state"].warmed.wait(timeout=120)
        result = await client.call_tool("adapter_status", {"kind": "extractive"})
        (info,) = structured(result)["adapters"]
        assert (info["name"], info["source"], info["loaded"]) == (
            "configured-one",
            "configured",
            True,
        )
        assert info["metrics"]["valid"]["auc"] == 0.9201 and info["last_error"] is None
        assert info["last_swap"] is None and structured(result)["generation"] == 0
        first_line = result.content[0].text.splitlines()[0]  # type: ignore[union-attr]
        assert first_line.startswith("extractive: configured-one (configured, loaded); valid.")
        out = structured(
            await client.call_tool("compress_context", {"text": PROSE, "engine": "extractive"})
        )
        assert out["adapter"] == "configured-one"
