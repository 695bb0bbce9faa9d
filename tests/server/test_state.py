"""EngineState: load errors recorded, swaps atomic and visible in adapter_status."""

from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from mcp import Client

from compression_layer.server.app import build_server
from compression_layer.server.state import EngineState, ServerState
from compression_layer.settings import CompressSettings
from srv_helpers import CODE, server_settings, structured


def test_bad_adapter_is_recorded_not_raised(tmp_path: Path) -> None:
    state = EngineState(CompressSettings(extractive_adapter=str(tmp_path / "nope")))
    state.load()
    record = state.adapters()["extractive"]
    assert record.source == "configured" and record.name == "nope"
    assert not record.loaded
    assert record.last_error is not None and "nope" in record.last_error


def test_swap_replaces_the_snapshot_atomically(tmp_path: Path) -> None:
    state = EngineState(CompressSettings())
    before = state.current
    after = state.swap(CompressSettings(extractive_adapter=str(tmp_path / "v2")))
    assert after.generation == before.generation + 1
    assert before.settings.extractive_adapter is None  # in-flight calls keep their snapshot
    record = state.adapters()["extractive"]
    assert record.name == "v2" and record.last_swap is not None


async def test_adapter_status_after_warm_up_and_swap(root: Path, tmp_path: Path) -> None:
    holder: dict[str, ServerState] = {}

    @asynccontextmanager
    async def memory(state: ServerState) -> Any:
        holder["state"] = state
        yield None

    bad = CompressSettings(extractive_adapter=str(tmp_path / "missing-adapter"))
    server = build_server(server_settings(root), compress_settings=bad, memory=memory, warm=True)
    async with Client(server) as client:
        state = holder["state"]
        state.warmed.wait(timeout=120)
        status = structured(await client.call_tool("adapter_status", {"kind": "extractive"}))
        extractive = status["adapters"][0]
        assert (
            extractive["source"] == "configured" and "missing-adapter" in extractive["last_error"]
        )
        # auto still works: prose falls back, code goes structural.
        out = structured(await client.call_tool("compress_context", {"text": CODE}))
        assert out["engine"] == "structural"
        state.engines.swap(CompressSettings())
        swapped = structured(await client.call_tool("adapter_status", {}))
        assert swapped["generation"] == 1
        assert swapped["adapters"][0]["last_swap"] is not None
