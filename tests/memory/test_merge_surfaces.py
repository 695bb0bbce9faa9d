"""Storing the same content again with new tags or metadata merges them into the memory kept,
through every surface: the MCP ``memory_store`` tool (in-memory client, real SQLite store) and
the CLI (``tests/cli/test_memory.py``). Issue: the new tags used to be dropped silently."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from mcp import Client

from compression_layer.memory import MemoryStore
from compression_layer.server.app import build_server
from compression_layer.settings import CompressSettings, MemorySettings
from memory_fakes import FakeCompressor, FakeEmbedder
from srv_helpers import server_settings, structured

NOTE = "Dana owns the billing migration; the cutover is on 14 March."


async def test_memory_store_tool_merges_new_tags_and_metadata(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()

    @asynccontextmanager
    async def memory(_: Any) -> AsyncIterator[MemoryStore]:
        async with MemoryStore.open(
            tmp_path / "m.sqlite3",
            settings=MemorySettings(synchronous="NORMAL"),
            compressor=FakeCompressor(),
            embedder=FakeEmbedder(),
        ) as store:
            yield store

    server = build_server(
        server_settings(root), compress_settings=CompressSettings(), memory=memory, warm=False
    )
    async with Client(server) as client:
        first = structured(
            await client.call_tool(
                "memory_store", {"content": NOTE, "namespace": "proj", "tags": ["billing"]}
            )
        )
        again_result = await client.call_tool(
            "memory_store",
            {"content": NOTE, "namespace": "proj", "tags": ["q1"], "metadata": {"owner": "dana"}},
        )
        again = structured(again_result)
        assert again["id"] == first["id"] and again["status"] == "existing"
        assert again["tags"] == ["billing", "q1"] and again["metadata"] == {"owner": "dana"}
        assert again["notes"] == ["tags added: q1", "metadata keys set: owner"]
        text = getattr(again_result.content[0], "text", "")
        assert "tags added: q1" in text  # what the model reads says so too

        query = {"query": "billing migration cutover", "namespace": "proj", "tags": ["q1"]}
        hits = structured(await client.call_tool("memory_search", query))["hits"]
        assert [h["id"] for h in hits] == [first["id"]]
        got = structured(await client.call_tool("memory_get", {"id": first["id"]}))
        assert got["tags"] == ["billing", "q1"] and got["metadata"] == {"owner": "dana"}
