"""Bad input gets a clear tool error and the server stays up: in memory and over a real stdio pipe.

The same table (``wire_cases.BAD_INPUTS``) runs through the SDK's in-memory client and through
``python -m compression_layer.server serve`` with the SDK's stdio client; then a good call must
still succeed on the same connection.
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.server.mcpserver import MCPServer
from mcp_types import CallToolResult

from compression_layer.server.app import build_server
from compression_layer.server.state import ServerState
from compression_layer.settings import CompressSettings
from srv_helpers import PROSE, FakeMemoryStore, error_text, server_settings, structured
from wire_cases import BAD_INPUTS, BadInput, make_bad_input_root, server_env

# The SDK's own prefix for a tool error; a message that is only this says nothing.
BARE = "Error executing tool compress_context"


def check_refusal(case: BadInput, result: CallToolResult) -> str:
    message = error_text(result)
    assert case.expect in message, (case.name, message)
    assert message.strip().rstrip(":") != BARE, case.name
    assert len(message) < 600, (case.name, len(message))
    return message


@pytest.fixture
def bad_root(tmp_path: Path) -> Path:
    return make_bad_input_root(tmp_path)


@pytest.fixture
def bad_server(bad_root: Path) -> MCPServer[ServerState]:
    store = FakeMemoryStore()

    @asynccontextmanager
    async def memory(_: ServerState) -> AsyncIterator[FakeMemoryStore]:
        yield store

    return build_server(
        server_settings(bad_root), compress_settings=CompressSettings(), memory=memory, warm=False
    )


@pytest.mark.parametrize("case", BAD_INPUTS, ids=lambda c: c.name)
async def test_bad_input_in_memory(bad_server: MCPServer[ServerState], case: BadInput) -> None:
    async with Client(bad_server) as client:
        check_refusal(case, await client.call_tool("compress_context", case.arguments))
        ok = await client.call_tool("compress_context", {"paths": ["ok.txt"]})
        assert structured(ok)["tokens_original"] > 0


async def test_tool_errors_name_paths_as_given(
    bad_server: MCPServer[ServerState], bad_root: Path
) -> None:
    async with Client(bad_server) as client:
        for case in BAD_INPUTS:
            if "paths" in case.arguments and "text" not in case.arguments:
                result = await client.call_tool("compress_context", case.arguments)
                # The roots may be listed ("outside the allowed roots (...)"); no file under them.
                assert f"{bad_root}{os.sep}" not in error_text(result), case.name


@pytest.mark.slow
async def test_bad_input_over_stdio(bad_root: Path, tmp_path: Path) -> None:
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "compression_layer.server", "serve"],
        env=server_env(tmp_path, bad_root),
        cwd=str(tmp_path),
    )
    async with Client(params, read_timeout_seconds=120) as client:
        for case in BAD_INPUTS:
            check_refusal(case, await client.call_tool("compress_context", case.arguments))
        # Still serving, on the same pipe.
        assert "compress_context" in {t.name for t in (await client.list_tools()).tools}
        ok = structured(await client.call_tool("compress_context", {"text": PROSE}))
        assert ok["tokens_compressed"] < ok["tokens_original"]
