"""Two MCP servers over streamable HTTP (two ports) sharing one Postgres serve the same
memories; with the database down, the tools answer with a clear, retryable error."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from compression_layer.memory import MemoryStore
from compression_layer.server.app import build_server
from compression_layer.server.state import ServerState
from compression_layer.settings import CompressSettings, MemorySettings
from memory_fakes import FakeCompressor, FakeEmbedder
from pg_local import LocalPostgres
from srv_helpers import error_text, running, server_settings, structured

FACT = "The staging database is backed up every night at 02:30 UTC to the eu-west bucket."


def shared_server(root: Path, url: str) -> Any:
    @asynccontextmanager
    async def memory(_: ServerState) -> AsyncIterator[MemoryStore]:
        settings = MemorySettings(near_duplicate_policy="keep", busy_timeout_ms=1500)
        async with MemoryStore.open(
            url, settings=settings, compressor=FakeCompressor(), embedder=FakeEmbedder()
        ) as store:
            yield store

    return build_server(
        server_settings(root), compress_settings=CompressSettings(), memory=memory, warm=False
    )


@asynccontextmanager
async def client(url: str) -> AsyncIterator[Client]:
    async with (
        httpx2.AsyncClient(timeout=60) as http,
        Client(streamable_http_client(url, http_client=http)) as connected,
    ):
        yield connected


async def test_two_http_servers_share_one_postgres(
    tmp_path: Path, pg_server: LocalPostgres, pg_url: str
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    with (
        running(shared_server(root, pg_url), None) as url_a,
        running(shared_server(root, pg_url), None) as url_b,
    ):
        assert url_a != url_b
        async with client(url_a) as a, client(url_b) as b:
            stored = structured(await a.call_tool("memory_store", {"content": FACT}))
            # The other server finds it, by search and by id, and sees the same duplicate.
            hits = structured(await b.call_tool("memory_search", {"query": "staging backup"}))
            assert [h["id"] for h in hits["hits"]] == [stored["id"]]
            got = await b.call_tool("memory_get", {"id": stored["id"], "form": "original"})
            assert structured(got)["text"] == FACT
            again = structured(await b.call_tool("memory_store", {"content": FACT}))
            assert again["id"] == stored["id"]
            await b.call_tool("memory_delete", {"id": stored["id"]})
            gone = await a.call_tool("memory_get", {"id": stored["id"]})
            assert gone.is_error and "deleted" in error_text(gone)

            pg_server.crash()
            try:
                down = await a.call_tool("memory_search", {"query": "staging backup"})
                assert down.is_error
                message = error_text(down)
                assert "unavailable" in message and "retry" in message
                assert "127.0.0.1" in message  # names the database (no password in this URL)
            finally:
                pg_server.start()
            # A client retries a retryable error; the pool reconnects within a few tries.
            for _ in range(40):  # bounded: each try waits at most busy_timeout_ms (1.5 s)
                result = await a.call_tool("memory_store", {"content": FACT + " Again."})
                if not result.is_error:
                    break
                assert "unavailable" in error_text(result)
            back = structured(result)
            listed = structured(await b.call_tool("memory_list", {}))
            assert [m["id"] for m in listed["items"]] == [back["id"]]


async def test_server_default_memory_follows_db_url(
    tmp_path: Path, pg_url: str, monkeypatch: Any
) -> None:
    """``compression-layer serve`` opens Postgres when memory.db_url is set."""
    from compression_layer.memory.postgres.store import PostgresMemoryStore
    from compression_layer.server.app import default_memory
    from compression_layer.settings import get_settings

    monkeypatch.setenv("COMPRESSION_LAYER_MEMORY__DB_URL", pg_url)
    get_settings.cache_clear()
    state: Any = None
    async with default_memory(state) as store:
        assert isinstance(store, PostgresMemoryStore)
        assert (await store.stats()).memories == 0
