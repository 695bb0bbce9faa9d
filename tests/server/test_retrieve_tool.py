"""The retrieve tool: compress_context with a budget -> marker -> retrieve returns exact text.

Through the SDK's in-memory client (a fake log pass makes the markers predictable) and once
through a real stdio server process (the real JSON pass).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.server.mcpserver import MCPServer

from compression_layer.compress import lossy
from compression_layer.compress.reversible import MARKER_RE, LossyOutput, marker, selector_of
from compression_layer.compress.types import Domain
from compression_layer.originals.select import select, split_lines
from compression_layer.server.app import build_server
from compression_layer.server.limits import HTTP_EVENT_BYTES
from compression_layer.server.state import ServerState
from compression_layer.settings import CompressSettings
from srv_helpers import content_text, error_text, server_settings, structured

LOG = (
    "".join(
        f"2024-05-01T10:{i // 60:02d}:{i % 60:02d}Z INFO [api] GET /v1/items/{i} 200 {i % 90}ms\n"
        for i in range(500)
    )
    + "2024-05-01T10:09:00Z ERROR [db] connection reset by peer\n"
)


def errors_only(
    text: str, domain: Domain, *, budget: int, query: str | None, handle: str
) -> LossyOutput:
    """A fake log pass: the ERROR line, a marker for the lines before it."""
    del domain, budget, query
    lines = split_lines(text)
    head = marker(handle, f"{len(lines) - 1} lines", lines=f"1-{len(lines) - 1}")
    return LossyOutput(f"{head}\n{lines[-1]}", omitted=len(lines) - 1)


@pytest.fixture
def fake_log_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(lossy.PASSES, "log", errors_only)


async def test_compress_with_a_rate_then_retrieve_the_marker_exactly(
    server: MCPServer[ServerState], fake_log_pass: None
) -> None:
    async with Client(server) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert "retrieve" in tools and "marker" in (tools["retrieve"].description or "")
        assert "retrieve" in (tools["compress_context"].description or "")
        result = await client.call_tool("compress_context", {"text": LOG, "rate": 0.1})
        out = structured(result)
        handle = out["handle"]
        assert handle and out["compressed"].startswith("[500 lines omitted: retrieve " + handle)
        figures = content_text(result).splitlines()[-1]
        assert f"handle {handle}" in figures
        found = MARKER_RE.search(content_text(result))
        assert found is not None
        got = await client.call_tool("retrieve", {"handle": handle, **selector_of(found)})
        assert content_text(got) == select(LOG, "log", **selector_of(found))
        assert content_text(got) == LOG[: LOG.index("2024-05-01T10:09:00Z ERROR") - 1]
        assert structured(got)["selector"] == {"lines": "1-500"}
        whole = await client.call_tool("retrieve", {"handle": handle})
        assert content_text(whole) == LOG
        assert structured(whole)["chars"] == len(LOG)


async def test_without_a_budget_nothing_is_kept(
    server: MCPServer[ServerState], fake_log_pass: None
) -> None:
    async with Client(server) as client:
        out = structured(await client.call_tool("compress_context", {"text": LOG}))
        assert out["handle"] is None and "omitted" not in out["compressed"]


async def test_bad_handles_and_selectors_are_tool_errors(
    server: MCPServer[ServerState], fake_log_pass: None
) -> None:
    async with Client(server) as client:
        unknown = await client.call_tool("retrieve", {"handle": "o_0123456789"})
        assert unknown.is_error and "unknown handle o_0123456789" in error_text(unknown)
        out = structured(await client.call_tool("compress_context", {"text": LOG, "rate": 0.1}))
        past = await client.call_tool("retrieve", {"handle": out["handle"], "lines": "9000"})
        assert past.is_error and "has 501 lines" in error_text(past)


async def test_handles_of_another_namespace_are_unknown(
    server: MCPServer[ServerState], fake_log_pass: None
) -> None:
    from compression_layer.originals.store import OriginalStore

    elsewhere = OriginalStore.open().put("kept by the CLI", domain="prose")  # namespace default
    async with Client(server) as client:
        got = await client.call_tool("retrieve", {"handle": elsewhere})
        assert got.is_error and "unknown handle" in error_text(got)


async def test_the_store_can_be_turned_off(
    root: Path, monkeypatch: pytest.MonkeyPatch, fake_log_pass: None
) -> None:
    monkeypatch.setenv("COMPRESSION_LAYER_ORIGINALS__SERVER", "false")
    off = build_server(server_settings(root), compress_settings=CompressSettings(), warm=False)
    async with Client(off) as client:
        out = structured(await client.call_tool("compress_context", {"text": LOG, "rate": 0.1}))
        assert out["handle"] is None
        got = await client.call_tool("retrieve", {"handle": "o_0123456789"})
        assert "keeps no originals" in error_text(got)


async def test_a_part_over_the_transport_limit_is_refused_with_line_ranges(
    root: Path, fake_log_pass: None
) -> None:
    small = build_server(
        server_settings(root).model_copy(update={"max_result_bytes": 8192}),
        compress_settings=CompressSettings(),
        warm=False,
    )
    async with Client(small) as client:
        out = structured(await client.call_tool("compress_context", {"text": LOG, "rate": 0.1}))
        got = await client.call_tool("retrieve", {"handle": out["handle"]})
        assert got.is_error
        message = error_text(got)
        assert "it was not sent" in message and "add lines=1-" in message
        piece = message.split("add lines=")[1].split(",")[0]
        ok = await client.call_tool("retrieve", {"handle": out["handle"], "lines": piece})
        assert not ok.is_error
        first, last = (int(n) for n in piece.split("-"))
        assert content_text(ok) == "\n".join(split_lines(LOG)[first - 1 : last])
    assert HTTP_EVENT_BYTES > 8192


def search_results() -> str:
    hits = [
        {
            "id": i,
            "title": f"Result {i} about {'caching' if i % 9 == 0 else 'routing'}",
            "score": round(1 - i / 400, 4),
            "url": f"https://example.com/doc/{i}",
        }
        for i in range(120)
    ]
    return json.dumps({"query": "caching", "total": 120, "hits": hits}, indent=2)


@pytest.mark.slow
async def test_stdio_process_compress_marker_retrieve(root: Path, tmp_path: Path) -> None:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "HF_HUB_OFFLINE": "1",
        "COMPRESSION_LAYER_HOME": str(tmp_path / "data"),
        "COMPRESSION_LAYER_CONFIG_DIR": str(tmp_path / "configs"),
        "COMPRESSION_LAYER_SERVER__ROOTS": json.dumps([str(root)]),
    }
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "compression_layer.server", "serve"],
        env=env,
        cwd=str(tmp_path),
    )
    original = search_results()
    async with Client(params, read_timeout_seconds=120) as client:
        result = await client.call_tool(
            "compress_context", {"text": original, "rate": 0.2, "query": "caching"}
        )
        out = structured(result)
        assert out["handle"], out["notes"]
        markers = list(MARKER_RE.finditer(content_text(result)))
        assert markers
        for found in markers:
            got = await client.call_tool(
                "retrieve", {"handle": found.group("handle"), **selector_of(found)}
            )
            assert content_text(got) == select(original, "json", **selector_of(found))
        whole = await client.call_tool("retrieve", {"handle": out["handle"]})
        assert content_text(whole) == original
    assert (tmp_path / "data" / "originals.sqlite3").is_file()
