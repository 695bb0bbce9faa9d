"""``memory_search`` over MCP: ``min_score`` drops the weaker hits, and is checked."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from mcp import Client

from compression_layer.memory import MemoryStore
from compression_layer.server.app import build_server
from compression_layer.settings import CompressSettings, MemorySettings
from memory_fakes import FakeCompressor, FakeEmbedder
from srv_helpers import error_text, server_settings, structured

NOTES = [
    "The staging database password rotates every Monday morning.",
    "The production database is backed up nightly.",
    "Lunch is at noon on Fridays.",
]


async def test_min_score_over_mcp(root: Path, tmp_path: Path) -> None:
    settings = MemorySettings(near_duplicate_policy="keep", synchronous="NORMAL")

    @asynccontextmanager
    async def memory(_: object) -> AsyncIterator[MemoryStore]:
        async with MemoryStore.open(
            tmp_path / "m.db",
            settings=settings,
            compressor=FakeCompressor(),
            embedder=FakeEmbedder(),
        ) as store:
            yield store

    server = build_server(
        server_settings(root), compress_settings=CompressSettings(), memory=memory, warm=False
    )
    async with Client(server) as client:
        for note in NOTES:
            await client.call_tool("memory_store", {"content": note})
        query = {"query": "staging database password"}
        every = structured(await client.call_tool("memory_search", query))["hits"]
        assert len(every) == 3 and every[0]["score"] > every[-1]["score"]
        cut = (every[0]["score"] + every[-1]["score"]) / 2
        some = structured(await client.call_tool("memory_search", {**query, "min_score": cut}))
        assert [h["id"] for h in some["hits"]] == [h["id"] for h in every if h["score"] >= cut]
        assert 0 < len(some["hits"]) < 3
        bad = await client.call_tool("memory_search", {**query, "min_score": 2})
        assert bad.is_error and "min_score" in error_text(bad)
