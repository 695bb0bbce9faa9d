"""A real ``python -m compression_layer.server serve`` process over the SDK's stdio client."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from srv_helpers import (
    PROSE,
    SAMPLE_SERVICE,
    api_json,
    check_compress_result,
    content_text,
    error_text,
    service_log,
    structured,
)

pytestmark = pytest.mark.slow


async def test_stdio_process_serves_tools(root: Path, tmp_path: Path) -> None:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "HF_HUB_OFFLINE": "1",
        "COMPRESSION_LAYER_HOME": str(tmp_path / "data"),
        "COMPRESSION_LAYER_CONFIG_DIR": str(tmp_path / "configs"),
        "COMPRESSION_LAYER_SERVER__ROOTS": json.dumps([str(root)]),
    }
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "compression_layer.server", "serve"],
        env=env,
        cwd=str(tmp_path),
    )
    async with Client(params, read_timeout_seconds=120) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert {"compress_context", "memory_store", "adapter_status"} <= names
        out = structured(await client.call_tool("compress_context", {"paths": ["total.py"]}))
        assert out["engine"] == "structural" and "def total" in out["compressed"]
        assert out["tokens_compressed"] < out["tokens_original"]
        # What the model reads over a real pipe: the compressed text and one line of figures.
        code = SAMPLE_SERVICE.read_text(encoding="utf-8")
        for original in (PROSE, code, api_json(), service_log()):
            result = await client.call_tool("compress_context", {"text": original})
            assert check_compress_result(result, original)["text_form"] == "compressed"
        found = await client.call_tool("memory_search", {"query": "anything"})
        assert content_text(found) == "no memories match"
        refused = await client.call_tool("compress_context", {"paths": ["../x.txt"]})
        assert "outside the allowed roots" in error_text(refused)
        status = structured(await client.call_tool("adapter_status", {}))
        assert status["engines"][0] == "auto"


def test_stdout_carries_only_protocol_messages(root: Path, tmp_path: Path) -> None:
    """Every stdout line is a JSON-RPC message: logs and progress bars go to stderr."""
    import subprocess
    import threading

    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "COMPRESSION_LAYER_HOME": str(tmp_path / "data"),
        "COMPRESSION_LAYER_CONFIG_DIR": str(tmp_path / "configs"),
        "COMPRESSION_LAYER_SERVER__LOG_LEVEL": "DEBUG",  # chatty on purpose
    }
    messages = [
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "raw", "version": "0"},
            },
        },
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {
                "name": "compress_context",
                "arguments": {"paths": [str(root / "total.py")]},
            },
        },
    ]
    proc = subprocess.Popen(
        [sys.executable, "-m", "compression_layer.server", "serve", "--root", str(root)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    assert proc.stdin is not None and proc.stdout is not None
    watchdog = threading.Timer(180, proc.kill)  # bounded: a hung server fails the test
    watchdog.start()
    replies: list[dict[str, object]] = []
    try:
        proc.stdin.write("".join(json.dumps(m) + "\n" for m in messages).encode("utf-8"))
        proc.stdin.flush()
        # Read until the tools/call reply: stdin stays open, EOF would cancel the call.
        for raw in proc.stdout:
            if raw.strip():
                replies.append(json.loads(raw))  # raises on any non-JSON line
            if replies and replies[-1].get("id") == 2:
                break
        proc.stdin.close()
        rest = proc.stdout.read()
        proc.wait(timeout=60)
    finally:
        watchdog.cancel()
        proc.kill()
    replies += [json.loads(line) for line in rest.decode("utf-8").splitlines() if line.strip()]
    assert all(r.get("jsonrpc") == "2.0" for r in replies)
    by_id = {r["id"]: r for r in replies if "id" in r}
    assert by_id[1]["result"]["serverInfo"]["name"] == "compression-layer"  # type: ignore[index]
    assert by_id[2]["result"]["isError"] is False  # type: ignore[index]
