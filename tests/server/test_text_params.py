"""Text parameters are text: JSON-looking strings reach the tools as the strings they are.

The SDK parses a string argument as JSON unless its parameter is annotated plain ``str`` (a
courtesy for clients that send lists as strings). ``text: str | None`` therefore turned
``{"a": 1}`` into a dict (refused: "Input should be a valid string"), ``"null"`` into no text and
``"true"`` into a boolean. Every free-text parameter is plain ``str``; these tests send such
values through the SDK's in-memory client and as raw JSON-RPC over a real stdio pipe.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.server.mcpserver import MCPServer

from compression_layer import compress
from compression_layer.server.app import build_server
from compression_layer.settings import CompressSettings
from compression_layer.tokens import count_tokens
from srv_helpers import (
    PROSE,
    FakeMemoryStore,
    check_compress_result,
    error_text,
    server_settings,
    structured,
)

Server = MCPServer[Any]
# Each value is valid JSON, so an annotation other than plain `str` would parse it.
JSONISH = ['{"a": 1}', "[1,2]", "null", "true", "42", "-0.5e3"]
# What compress() makes of each: JSON is minified, the rest is too short to compress.
COMPRESSED = {'{"a": 1}': '{"a":1}'}


@pytest.mark.parametrize("value", JSONISH)
async def test_compress_context_text_is_the_string_sent(server: Server, value: str) -> None:
    async with Client(server) as client:
        result = await client.call_tool("compress_context", {"text": value})
        out = check_compress_result(result, value)
    assert out["compressed"] == COMPRESSED.get(value, value)
    assert out["tokens_original"] == count_tokens(value)
    assert out["tokens_compressed"] > 0


@pytest.mark.parametrize("value", JSONISH)
async def test_compress_context_query_is_the_string_sent(server: Server, value: str) -> None:
    async with Client(server) as client:
        result = await client.call_tool(
            "compress_context", {"text": PROSE, "query": value, "rate": 0.5}
        )
        out = check_compress_result(result, PROSE)
    assert out["compressed"] == compress(PROSE, rate=0.5, query=value).compressed


@pytest.mark.parametrize("value", JSONISH)
async def test_validate_compression_takes_both_texts_as_sent(server: Server, value: str) -> None:
    async with Client(server) as client:
        same = structured(
            await client.call_tool("validate_compression", {"original": value, "compressed": value})
        )
        assert same["passed"] is True
        assert same["tokens_original"] == same["tokens_compressed"] == count_tokens(value)
        other = structured(
            await client.call_tool("validate_compression", {"original": PROSE, "compressed": value})
        )
    assert other["tokens_compressed"] == count_tokens(value)
    assert other["passed"] is False and other["facts_missing"]


async def test_memory_tools_store_and_search_the_strings_sent(
    server: Server, fake_store: FakeMemoryStore
) -> None:
    async with Client(server) as client:
        ids = {}
        for value in JSONISH:
            stored = await client.call_tool("memory_store", {"content": value})
            ids[value] = structured(stored)["id"]
        assert {m.content for m in fake_store.items.values()} == set(JSONISH)
        for value in JSONISH:
            hits = structured(await client.call_tool("memory_search", {"query": value}))["hits"]
            assert hits and hits[0]["id"] == ids[value], value


async def test_empty_texts_are_refused_with_a_reason(server: Server) -> None:
    async with Client(server) as client:
        refused = await client.call_tool("compress_context", {"text": ""})
        assert "nothing to compress" in error_text(refused)
        refused = await client.call_tool("compress_context", {"text": "  \n"})
        assert "empty" in error_text(refused)
        refused = await client.call_tool(
            "validate_compression", {"original": "", "compressed": "x"}
        )
        assert "original is empty" in error_text(refused)
        refused = await client.call_tool(
            "validate_compression", {"original": "x", "compressed": ""}
        )
        assert "compressed is empty" in error_text(refused)
        refused = await client.call_tool("memory_search", {"query": ""})
        assert "query" in error_text(refused)
        # An empty query is no query: the text is compressed without one.
        plain = await client.call_tool("compress_context", {"text": PROSE, "query": ""})
        assert structured(plain)["compressed"] == compress(PROSE).compressed


async def test_real_store_keeps_json_looking_memories_verbatim(
    root: Path, _isolated_home: Path
) -> None:
    server = build_server(server_settings(root), compress_settings=CompressSettings(), warm=False)
    async with Client(server) as client:
        for value in JSONISH:
            stored = structured(await client.call_tool("memory_store", {"content": value}))
            original = await client.call_tool(
                "memory_get", {"id": stored["id"], "form": "original"}
            )
            assert structured(original)["text"] == value
            found = structured(await client.call_tool("memory_search", {"query": value}))
            assert isinstance(found["hits"], list)
        refused = await client.call_tool("memory_store", {"content": ""})
        assert "content is empty" in error_text(refused)
        refused = await client.call_tool("memory_store", {"content": " \n "})
        assert "content is empty" in error_text(refused)


# --- raw JSON-RPC over a real stdio pipe --------------------------------------------------------


def _raw_calls() -> list[tuple[str, dict[str, Any]]]:
    calls: list[tuple[str, dict[str, Any]]] = []
    for value in JSONISH:
        calls.append(("compress_context", {"text": value}))
        calls.append(("compress_context", {"text": PROSE, "query": value, "rate": 0.5}))
        calls.append(("validate_compression", {"original": value, "compressed": value}))
        calls.append(("memory_store", {"content": value, "namespace": "raw"}))
        calls.append(("memory_search", {"query": value, "namespace": "raw"}))
    calls.append(("compress_context", {"text": ""}))
    calls.append(("validate_compression", {"original": "", "compressed": "x"}))
    calls.append(("memory_store", {"content": "", "namespace": "raw"}))
    calls.append(("memory_search", {"query": "", "namespace": "raw"}))
    return calls


@pytest.mark.slow
def test_raw_json_rpc_over_stdio_takes_text_as_text(root: Path, tmp_path: Path) -> None:
    """The arguments as a client writes them on the wire, answered by a real server process."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "HF_HUB_OFFLINE": "1",
        "COMPRESSION_LAYER_HOME": str(tmp_path / "data"),
        "COMPRESSION_LAYER_CONFIG_DIR": str(tmp_path / "configs"),
    }
    if cache := os.environ.get("COMPRESSION_LAYER_MODEL_CACHE"):
        env["COMPRESSION_LAYER_MODEL_CACHE"] = cache
    calls = _raw_calls()
    messages: list[dict[str, Any]] = [
        {
            "jsonrpc": "2.0",
            "id": 0,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "raw", "version": "0"},
            },
        },
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
    ]
    messages += [
        {
            "jsonrpc": "2.0",
            "id": i,
            "method": "tools/call",
            "params": {"name": name, "arguments": arguments},
        }
        for i, (name, arguments) in enumerate(calls, start=1)
    ]
    proc = subprocess.Popen(
        [sys.executable, "-m", "compression_layer.server", "serve", "--root", str(root)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
        cwd=str(tmp_path),
    )
    assert proc.stdin is not None and proc.stdout is not None
    watchdog = threading.Timer(240, proc.kill)  # bounded: a hung server fails the test
    watchdog.start()
    replies: dict[int, dict[str, Any]] = {}
    try:
        # One message at a time: memory_search must see what memory_store wrote before it.
        proc.stdin.write((json.dumps(messages[0]) + "\n").encode("utf-8"))
        proc.stdin.flush()
        for message in messages[1:]:
            proc.stdin.write((json.dumps(message) + "\n").encode("utf-8"))
            proc.stdin.flush()
            wanted = message.get("id", 0)
            while wanted not in replies or 0 not in replies:
                raw = proc.stdout.readline()
                assert raw, "the server closed its stdout"
                reply = json.loads(raw)
                if "id" in reply:
                    replies[reply["id"]] = reply
        proc.stdin.close()
        proc.wait(timeout=60)
    finally:
        watchdog.cancel()
        proc.kill()
    for i, (name, arguments) in enumerate(calls, start=1):
        reply = replies[i]
        assert "result" in reply, (name, arguments, reply)
        result = reply["result"]
        sent = next(iter(arguments.values()))
        text = result["content"][0]["text"]
        if sent == "":
            assert result["isError"] is True, (name, result)
            assert "empty" in text or "nothing to compress" in text or "at least 1" in text
            continue
        assert result["isError"] is False, (name, arguments, text)
        assert "valid string" not in text
        out = result["structuredContent"]
        if name == "compress_context" and "query" not in arguments:
            assert out["compressed"] == COMPRESSED.get(sent, sent)
        elif name == "validate_compression":
            assert out["passed"] is True and out["tokens_original"] == count_tokens(sent)
        elif name == "memory_store":
            assert out["tokens_original"] == count_tokens(sent)
