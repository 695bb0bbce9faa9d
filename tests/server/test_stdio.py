"""A real ``python -m compression_layer.server serve`` process over the SDK's stdio client."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from srv_helpers import error_text, structured

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
        refused = await client.call_tool("compress_context", {"paths": ["../x.txt"]})
        assert "outside the allowed roots" in error_text(refused)
        status = structured(await client.call_tool("adapter_status", {}))
        assert status["engines"][0] == "auto"
