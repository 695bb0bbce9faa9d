"""The memory tools against the real SQLite store (MiniLM embedder) opened by the lifespan."""

from __future__ import annotations

from pathlib import Path

from mcp import Client

from compression_layer.server.app import build_server
from compression_layer.settings import CompressSettings
from srv_helpers import PROSE, error_text, server_settings, structured


async def test_real_store_round_trip(root: Path, _isolated_home: Path) -> None:
    server = build_server(server_settings(root), compress_settings=CompressSettings(), warm=False)
    async with Client(server) as client:
        stored = structured(
            await client.call_tool(
                "memory_store",
                {"content": PROSE, "namespace": "team", "tags": ["billing"], "compress": False},
            )
        )
        other = structured(
            await client.call_tool(
                "memory_store",
                {"content": "The office plants are watered on Fridays.", "namespace": "team"},
            )
        )
        assert stored["status"] == "created"
        again = structured(
            await client.call_tool(
                "memory_store", {"content": PROSE, "namespace": "team", "compress": False}
            )
        )
        assert again["id"] == stored["id"] and again["status"] == "existing"

        query = {"query": "who owns the billing migration?", "namespace": "team", "k": 2}
        hits = structured(await client.call_tool("memory_search", query))["hits"]
        assert hits[0]["id"] == stored["id"]
        tagged = {**query, "tags": ["billing"]}
        only = structured(await client.call_tool("memory_search", tagged))["hits"]
        assert [h["id"] for h in only] == [stored["id"]]

        read = await client.read_resource(stored["uri"])
        assert getattr(read.contents[0], "text", None) == PROSE
        listed = structured(await client.call_tool("memory_list", {"namespace": "team"}))
        assert [i["id"] for i in listed["items"]] == [stored["id"], other["id"]]

        assert structured(await client.call_tool("memory_delete", {"id": stored["id"]}))["deleted"]
        missing = await client.call_tool("memory_get", {"id": stored["id"]})
        assert "was deleted at" in error_text(missing)  # soft: restorable for a while
    assert (_isolated_home / "memory.sqlite3").is_file()
