"""Scopes, metadata filters, memory_update, memory_history and memory_namespaces through the MCP
client, against the real SQLite store (fake compressor and embedder)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from mcp import Client
from mcp.server.mcpserver import MCPServer

from compression_layer.memory import MemoryStore
from compression_layer.server.app import build_server
from compression_layer.server.state import ServerState
from compression_layer.settings import CompressSettings, MemorySettings
from memory_fakes import FakeCompressor, FakeEmbedder
from srv_helpers import content_text, error_text, server_settings, structured

NOTE = "The staging database password rotates every Monday morning at nine."


def _server(root: Path, db: Path, **settings: Any) -> MCPServer[ServerState]:
    memory_settings = MemorySettings(near_duplicate_policy="keep", synchronous="NORMAL", **settings)

    @asynccontextmanager
    async def memory(_: ServerState) -> AsyncIterator[MemoryStore]:
        async with MemoryStore.open(
            db, settings=memory_settings, compressor=FakeCompressor(), embedder=FakeEmbedder()
        ) as store:
            yield store

    return build_server(
        server_settings(root), compress_settings=CompressSettings(), memory=memory, warm=False
    )


async def test_scopes_and_filters_over_mcp(root: Path, tmp_path: Path) -> None:
    server = _server(root, tmp_path / "m.sqlite3")
    async with Client(server) as client:
        alice = structured(
            await client.call_tool(
                "memory_store",
                {"content": NOTE, "user_id": "alice", "metadata": {"priority": 2}},
            )
        )
        assert alice["user_id"] == "alice"
        bob = await client.call_tool(
            "memory_store", {"content": NOTE, "user_id": "bob", "metadata": {"priority": 5}}
        )
        assert content_text(bob).startswith("created [") and "(user bob)" in content_text(bob)

        query = {"query": "when does the password rotate?"}
        mine = structured(await client.call_tool("memory_search", {**query, "user_id": "alice"}))
        assert [h["id"] for h in mine["hits"]] == [alice["id"]]
        assert structured(await client.call_tool("memory_search", query))["hits"] == []
        urgent = {**query, "user_id": "alice", "filters": {"priority": {"gte": 3}}}
        assert structured(await client.call_tool("memory_search", urgent))["hits"] == []

        # Reading across scopes needs the server's permission.
        wide = await client.call_tool("memory_search", {**query, "all_scopes": True})
        assert "memory.allow_all_scopes is off" in error_text(wide)

        listed = structured(
            await client.call_tool(
                "memory_list", {"user_id": "bob", "filters": {"priority": {"in": [5, 6]}}}
            )
        )
        assert [i["user_id"] for i in listed["items"]] == ["bob"]

        bad_op = await client.call_tool("memory_list", {"filters": {"priority": {"like": 1}}})
        assert "unknown filter operator 'like'" in error_text(bad_op)
        bad_date = await client.call_tool("memory_list", {"filters": {"due": {"lt": "May"}}})
        assert "malformed date 'May'" in error_text(bad_date)
        missing = await client.call_tool("memory_list", {"filters": {"prio": 1}})
        assert "'prio'; keys there: priority" in error_text(missing)
        bad_scope = await client.call_tool("memory_store", {"content": "x", "user_id": "a b"})
        assert "invalid user_id 'a b'" in error_text(bad_scope)

        names = await client.call_tool("memory_namespaces", {})
        assert content_text(names) == "default: 2"
        scopes = await client.call_tool("memory_namespaces", {"namespace": "default"})
        assert content_text(scopes) == "(user alice): 1\n(user bob): 1"


async def test_all_scopes_when_the_server_allows_it(root: Path, tmp_path: Path) -> None:
    server = _server(root, tmp_path / "m.sqlite3", allow_all_scopes=True)
    async with Client(server) as client:
        for user in ("alice", "bob"):
            await client.call_tool("memory_store", {"content": NOTE, "user_id": user})
        both = {"query": "password rotates", "all_scopes": True}
        hits = structured(await client.call_tool("memory_search", both))["hits"]
        assert len(hits) == 2
        listed = await client.call_tool("memory_list", {"all_scopes": True})
        lines = content_text(listed).splitlines()
        assert "(user alice)" in lines[0] and "(user bob)" in lines[1]


async def test_update_history_and_soft_delete_over_mcp(root: Path, tmp_path: Path) -> None:
    server = _server(root, tmp_path / "m.sqlite3")
    async with Client(server) as client:
        stored = structured(
            await client.call_tool(
                "memory_store", {"content": NOTE, "tags": ["ops"], "metadata": {"a": 1, "b": 2}}
            )
        )
        mid = stored["id"]
        changed = await client.call_tool(
            "memory_update",
            {
                "id": mid,
                "content": NOTE.replace("nine", "ten"),
                "metadata": {"b": None, "c": 3},
            },
        )
        assert content_text(changed).startswith(f"updated [{mid}]: content, metadata;")
        assert structured(changed)["metadata"] == {"a": 1, "c": 3}
        same = await client.call_tool("memory_update", {"id": mid, "tags": ["ops"]})
        assert "nothing changed" in content_text(same)
        empty = await client.call_tool("memory_update", {"id": mid})
        assert "nothing to update" in error_text(empty)

        history = await client.call_tool("memory_history", {"id": mid})
        lines = content_text(history).splitlines()
        assert lines[0].endswith(" create")
        assert " update by mcp: content " in lines[1] and "nine." in lines[1]
        assert '"c": 3' in lines[1] or "metadata" in lines[1]
        assert [e["action"] for e in structured(history)["entries"]] == ["create", "update"]

        deleted = await client.call_tool("memory_delete", {"id": mid})
        assert content_text(deleted) == f"deleted [{mid}]; restorable for 30 days"
        gone = await client.call_tool("memory_get", {"id": mid})
        assert "was deleted at" in error_text(gone) and "restorable until" in error_text(gone)
        found = structured(await client.call_tool("memory_search", {"query": "password"}))
        assert found["hits"] == []
        late = await client.call_tool("memory_update", {"id": mid, "tags": ["x"]})
        assert "was deleted at" in error_text(late)
        actions = structured(await client.call_tool("memory_history", {"id": mid}))["entries"]
        assert [e["action"] for e in actions] == ["create", "update", "delete"]
        unknown = await client.call_tool("memory_history", {"id": "mem_nope"})
        assert "no memory with id 'mem_nope'" in error_text(unknown)
