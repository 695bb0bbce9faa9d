"""Memory tools and the memory:// resource through the in-memory client (fake store)."""

from __future__ import annotations

from typing import Any

import pytest
from mcp import Client
from mcp.server.mcpserver import MCPServer
from mcp.shared.exceptions import MCPError

from srv_helpers import (
    PROSE,
    FakeMemoryStore,
    content_text,
    error_text,
    structured,
    visible_tokens,
)

Server = MCPServer[Any]


async def test_store_get_search_list_delete(server: Server, fake_store: FakeMemoryStore) -> None:
    async with Client(server) as client:
        stored = structured(
            await client.call_tool(
                "memory_store",
                {"content": PROSE, "namespace": "proj", "tags": ["q1"], "metadata": {"n": 1}},
            )
        )
        mid = stored["id"]
        assert stored["uri"] == f"memory://proj/{mid}"
        assert stored["text"] is None  # the caller already has what it sent
        assert stored["status"] == "created"
        assert stored["tokens_compressed"] < stored["tokens_original"]
        assert fake_store.items[mid].tags == ["q1"]

        original = structured(await client.call_tool("memory_get", {"id": mid, "form": "original"}))
        assert original["text"] == PROSE and original["form"] == "original"
        short = structured(await client.call_tool("memory_get", {"id": mid}))
        assert short["form"] == "compressed"
        assert short["text"] == fake_store.items[mid].compressed

        query = {"query": "revenue Berlin", "namespace": "proj"}
        found = structured(await client.call_tool("memory_search", query))
        assert [h["id"] for h in found["hits"]] == [mid]
        assert found["hits"][0]["text"] == fake_store.items[mid].compressed
        assert found["tokens"] > 0
        capped = structured(
            await client.call_tool(
                "memory_search", {"query": "revenue", "namespace": "proj", "max_tokens": 1}
            )
        )
        assert capped["hits"] == []

        listed = structured(await client.call_tool("memory_list", {"namespace": "proj"}))
        assert [i["id"] for i in listed["items"]] == [mid]
        assert listed["next_cursor"] is None

        gone = structured(await client.call_tool("memory_delete", {"id": mid}))
        assert gone == {"id": mid, "deleted": True}
        assert mid not in fake_store.items


async def test_list_pages_with_cursor(server: Server) -> None:
    async with Client(server) as client:
        for i in range(3):
            await client.call_tool("memory_store", {"content": f"memory number {i}"})
        first = structured(await client.call_tool("memory_list", {"limit": 2}))
        assert len(first["items"]) == 2 and first["next_cursor"]
        second = structured(
            await client.call_tool("memory_list", {"limit": 2, "cursor": first["next_cursor"]})
        )
        assert len(second["items"]) == 1 and second["next_cursor"] is None


@pytest.mark.parametrize("tool", ["memory_get", "memory_delete"])
async def test_unknown_memory_id_is_an_error_result(server: Server, tool: str) -> None:
    async with Client(server) as client:
        message = error_text(await client.call_tool(tool, {"id": "nope"}))
        assert "no memory with id 'nope'" in message
        assert not (await client.call_tool("memory_list", {})).is_error


async def test_memory_resource_reads_the_original(server: Server) -> None:
    async with Client(server) as client:
        templates = (await client.list_resource_templates()).resource_templates
        assert [t.uri_template for t in templates] == ["memory://{namespace}/{id}"]
        stored = structured(
            await client.call_tool("memory_store", {"content": PROSE, "namespace": "notes"})
        )
        read = await client.read_resource(stored["uri"])
        first = read.contents[0]
        assert getattr(first, "text", None) == PROSE
        with pytest.raises(MCPError, match="no such memory"):
            await client.read_resource(f"memory://other/{stored['id']}")
        with pytest.raises(MCPError, match="no memory with id"):
            await client.read_resource("memory://notes/unknown")


async def test_memory_texts_are_compact(server: Server, fake_store: FakeMemoryStore) -> None:
    """One line per memory for the model; the full objects stay in structured content."""
    async with Client(server) as client:
        first = await client.call_tool(
            "memory_store", {"content": PROSE, "namespace": "proj", "tags": ["q1", "finance"]}
        )
        mid = structured(first)["id"]
        assert content_text(first) == (
            f"created [{mid}] in proj: {structured(first)['tokens_original']}→"
            f"{structured(first)['tokens_compressed']} tokens, fake, tags q1,finance"
        )
        note = {"content": "Revenue is booked\nby the new billing system.", "compress": False}
        second = structured(await client.call_tool("memory_store", {**note, "namespace": "proj"}))

        found = await client.call_tool(
            "memory_search", {"query": "revenue Berlin June", "namespace": "proj"}
        )
        hits = structured(found)["hits"]
        assert [h["id"] for h in hits] == [mid, second["id"]]
        assert hits[0]["tags"] == ["q1", "finance"] and hits[0]["metadata"] == {}
        text = content_text(found)
        blocks = text.split("\n\n")  # the second hit spans two lines: hits are blank-line apart
        assert blocks[0] == (
            f"[{mid}] (score {hits[0]['score']:.2f}, tags q1,finance) "
            f"{fake_store.items[mid].compressed}"
        )
        assert blocks[1] == f"[{second['id']}] (score {hits[1]['score']:.2f}) {note['content']}"
        assert visible_tokens(found) < structured(found)["tokens"] + 40 * len(hits)
        assert "{" not in text

        none = await client.call_tool("memory_search", {"query": "zebra", "namespace": "proj"})
        assert content_text(none) == "no memories match"
        assert structured(none)["hits"] == []

        page = await client.call_tool("memory_list", {"namespace": "proj", "limit": 1})
        lines = content_text(page).splitlines()
        assert lines[0].startswith(f"[{mid}] (") and "tags q1,finance" in lines[0]
        assert fake_store.items[mid].compressed[:20] in lines[0]
        assert lines[1] == f"more: cursor={structured(page)['next_cursor']}"
        assert structured(page)["items"][0]["tokens_original"] > 0
        empty = await client.call_tool("memory_list", {"namespace": "nobody"})
        assert content_text(empty) == "no memories in namespace nobody"

        got = await client.call_tool("memory_get", {"id": mid, "form": "original"})
        body, _, line = content_text(got).rpartition("\n")
        assert body == PROSE
        assert line == (
            f"[{mid}, original, {structured(got)['tokens_original']} tokens, tags q1,finance]"
        )
        gone = await client.call_tool("memory_delete", {"id": mid})
        assert content_text(gone) == f"deleted [{mid}]"


def test_a_superseded_hit_names_the_newer_one() -> None:
    from compression_layer.server.memory_tools import search_text
    from compression_layer.server.models import MemoryHit, MemorySearchResult

    old = MemoryHit(
        id="mem_1",
        uri="memory://d/mem_1",
        score=0.5,
        text="Deploys on Fridays.",
        superseded_by="mem_2",
    )
    new = MemoryHit(id="mem_2", uri="memory://d/mem_2", score=0.7, text="No deploys on Fridays.")
    assert search_text(MemorySearchResult(hits=[new, old], tokens=9)).splitlines() == [
        "[mem_2] (score 0.70) No deploys on Fridays.",
        "[mem_1] (score 0.50, superseded by [mem_2]) Deploys on Fridays.",
    ]
