"""compress_context, adapter_status and the tool list through the SDK's in-memory client."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.server.mcpserver import MCPServer

from srv_helpers import CODE, PROSE, content_text, error_text, structured

Server = MCPServer[Any]
TOOLS = {
    "compress_context",
    "validate_compression",
    "memory_store",
    "memory_search",
    "memory_get",
    "memory_delete",
    "memory_list",
    "memory_update",
    "memory_history",
    "memory_namespaces",
    "adapter_status",
    "retrieve",
    "compress_documents",
}


async def test_tools_listed_with_truthful_annotations_and_output_schemas(server: Server) -> None:
    async with Client(server) as client:
        listed = {t.name: t for t in (await client.list_tools()).tools}
        assert set(listed) == TOOLS
        for tool in listed.values():
            assert tool.description and len(tool.description) > 40, tool.name
            assert tool.output_schema is not None, tool.name
            assert tool.annotations is not None
        delete = listed["memory_delete"].annotations
        assert delete is not None and delete.destructive_hint and not delete.read_only_hint
        store = listed["memory_store"].annotations
        assert store is not None and not store.read_only_hint and not store.destructive_hint
        compress = listed["compress_context"].annotations
        assert compress is not None and compress.read_only_hint and compress.open_world_hint
        validate = listed["validate_compression"].annotations
        assert validate is not None and validate.open_world_hint
        props = listed["compress_context"].input_schema["properties"]
        assert {"text", "paths", "engine", "rate", "target_tokens", "query"} <= set(props)
        assert all(p.get("description") for p in props.values())


async def test_compress_code_text_structurally(server: Server) -> None:
    async with Client(server) as client:
        out = structured(await client.call_tool("compress_context", {"text": CODE}))
        assert out["domain"].startswith("code")
        assert out["engine"] == "structural"
        assert 0 < out["tokens_compressed"] < out["tokens_original"]
        assert "def total" in out["compressed"]
        assert out["files"] == []


async def test_compress_prose_with_rate(server: Server) -> None:
    async with Client(server) as client:
        out = structured(await client.call_tool("compress_context", {"text": PROSE, "rate": 0.5}))
        assert out["tokens_compressed"] <= out["tokens_original"]
        expected = out["tokens_compressed"] / out["tokens_original"]
        assert out["ratio"] == pytest.approx(expected, abs=1e-3)


async def test_compress_paths_relative_and_absolute(server: Server, root: Path) -> None:
    async with Client(server) as client:
        one = structured(await client.call_tool("compress_context", {"paths": ["total.py"]}))
        assert one["files"][0]["path"] == "total.py"
        assert "def total" in one["compressed"]
        arguments = {"paths": ["total.py", str(root / "notes.txt")], "engine": "structural"}
        both = structured(await client.call_tool("compress_context", arguments))
        assert [f["path"] for f in both["files"]] == ["total.py", str(root / "notes.txt")]
        assert "=== total.py ===" in both["compressed"]
        assert both["tokens_original"] == sum(f["tokens_original"] for f in both["files"])


@pytest.mark.parametrize(
    ("arguments", "needle"),
    [
        ({"text": "   \n"}, "empty"),
        ({}, "nothing to compress"),
        ({"text": "hello there", "paths": ["total.py"]}, "not both"),
        ({"paths": ["blob.bin"]}, "binary"),
        ({"paths": ["missing.txt"]}, "no such file"),
        ({"paths": ["../outside.txt"]}, "outside the allowed roots"),
        ({"paths": ["/etc/hostname"]}, "outside the allowed roots"),
        ({"text": "hello there", "engine": "zip"}, "unknown engine 'zip'"),
        ({"text": "hello there", "rate": 1.5}, "rate"),
        ({"text": "hello there", "rate": 0}, "rate"),
    ],
)
async def test_bad_compress_input_is_an_error_result(
    server: Server, arguments: dict[str, object], needle: str
) -> None:
    async with Client(server) as client:
        assert needle in error_text(await client.call_tool("compress_context", arguments))
        # The server keeps serving after every refusal.
        assert not (await client.call_tool("adapter_status", {})).is_error


async def test_symlink_out_of_root_is_refused(server: Server, root: Path, tmp_path: Path) -> None:
    async with Client(server) as client:
        secret = tmp_path / "secret.txt"
        secret.write_text("the launch code is 0000", encoding="utf-8")
        os.symlink(secret, root / "link.txt")
        message = error_text(await client.call_tool("compress_context", {"paths": ["link.txt"]}))
        assert "outside the allowed roots" in message
        assert "0000" not in message


async def test_adapter_status_reports_engines_and_kinds(server: Server) -> None:
    async with Client(server) as client:
        result = await client.call_tool("adapter_status", {})
        out = structured(result)
        lines = content_text(result).splitlines()
        assert lines[0].startswith(f"extractive: {out['adapters'][0]['name']} (")
        assert lines[-1].startswith("engines: auto, ")
        kinds = {a["kind"]: a for a in out["adapters"]}
        assert set(kinds) == {"extractive", "generative"}
        assert kinds["extractive"]["name"]
        assert kinds["extractive"]["last_swap"] is None
        assert {"auto", "structural", "extractive"} <= set(out["engines"])
        assert out["generation"] == 0
        only = structured(await client.call_tool("adapter_status", {"kind": "generative"}))
        assert [a["kind"] for a in only["adapters"]] == ["generative"]


async def test_unknown_adapter_kind_is_an_error_result(server: Server) -> None:
    async with Client(server) as client:
        assert "unknown adapter kind 'lora'" in error_text(
            await client.call_tool("adapter_status", {"kind": "lora"})
        )


async def test_large_texts_compress_in_a_worker_process(root: Path) -> None:
    from compression_layer.server.app import build_server
    from compression_layer.settings import CompressSettings, ServerSettings

    settings = ServerSettings(roots=[root], process_min_bytes=1)
    server = build_server(settings, compress_settings=CompressSettings(), warm=False)
    async with Client(server) as client:
        out = structured(await client.call_tool("compress_context", {"text": CODE}))
        bad = await client.call_tool("compress_context", {"text": CODE, "engine": "zip"})
    assert out["engine"] == "structural" and "def total" in out["compressed"]
    assert bad.is_error
