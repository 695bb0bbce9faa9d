"""Server fixtures: a root folder with files, a fake memory store, an in-memory MCP client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from mcp.server.mcpserver import MCPServer

from compression_layer.server.app import build_server
from compression_layer.server.state import ServerState
from compression_layer.settings import CompressSettings
from srv_helpers import CODE, PROSE, FakeMemoryStore, server_settings


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """An allowed root with a prose file, a code file and a binary file."""
    folder = tmp_path / "root"
    folder.mkdir()
    (folder / "notes.txt").write_text(PROSE, encoding="utf-8")
    (folder / "total.py").write_text(CODE, encoding="utf-8")
    (folder / "blob.bin").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    return folder


@pytest.fixture
def fake_store() -> FakeMemoryStore:
    return FakeMemoryStore()


@pytest.fixture
def server(root: Path, fake_store: FakeMemoryStore) -> MCPServer[ServerState]:
    """A server whose memory is the fake store; connect with ``async with Client(server)``.

    (A client fixture would enter the SDK's task groups in one task and leave them in another.)
    """

    @asynccontextmanager
    async def memory(_: ServerState) -> AsyncIterator[FakeMemoryStore]:
        yield fake_store

    return build_server(
        server_settings(root), compress_settings=CompressSettings(), memory=memory, warm=False
    )
