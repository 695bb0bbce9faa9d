"""Streamable HTTP: uvicorn in a thread, bearer token, DNS-rebinding (Host / Origin) refusals."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2
import pytest
import uvicorn
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.server.mcpserver import MCPServer

from compression_layer.server.state import ServerState
from compression_layer.server.transports import http_app
from compression_layer.settings import ServerSettings
from srv_helpers import PROSE, structured

TOKEN = "s3cret-token-for-tests"
INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "test", "version": "0"},
    },
}
HEADERS = {"content-type": "application/json", "accept": "application/json, text/event-stream"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def running(server: MCPServer[ServerState], token: str | None) -> Iterator[str]:
    """Serve ``server`` on a free loopback port in a thread; yields the endpoint URL."""
    settings = ServerSettings(host="127.0.0.1", port=free_port())
    config = uvicorn.Config(
        http_app(server, settings, token),
        host=settings.host,
        port=settings.port,
        log_level="warning",
        lifespan="on",
    )
    runner = uvicorn.Server(config)
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    started = threading.Event()
    for _ in range(600):  # bounded: at most ~60 s for the lifespan to finish
        if runner.started or not thread.is_alive():
            break
        started.wait(0.1)
    assert runner.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{settings.port}{settings.path}"
    finally:
        runner.should_exit = True
        thread.join(timeout=30)


def test_token_required_and_rebinding_refused(server: MCPServer[ServerState]) -> None:
    auth = {"authorization": f"Bearer {TOKEN}"}
    with running(server, TOKEN) as url, httpx2.Client(timeout=30) as http:
        missing = http.post(url, json=INIT, headers=HEADERS)
        assert missing.status_code == 401
        assert missing.headers["www-authenticate"].startswith("Bearer")
        wrong = http.post(url, json=INIT, headers={**HEADERS, "authorization": "Bearer nope"})
        assert wrong.status_code == 401
        assert TOKEN not in wrong.text
        evil_host = http.post(url, json=INIT, headers={**HEADERS, **auth, "host": "evil.test"})
        assert evil_host.status_code == 421
        evil_origin = {**HEADERS, **auth, "origin": "http://evil.test"}
        assert http.post(url, json=INIT, headers=evil_origin).status_code == 403
        ok = http.post(url, json=INIT, headers={**HEADERS, **auth})
        assert ok.status_code == 200, ok.text


@pytest.mark.parametrize("token", [TOKEN, None])
async def test_tools_over_http(server: MCPServer[ServerState], token: str | None) -> None:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    with running(server, token) as url:
        async with (
            httpx2.AsyncClient(headers=headers, timeout=60) as http,
            Client(streamable_http_client(url, http_client=http)) as client,
        ):
            names = {t.name for t in (await client.list_tools()).tools}
            assert "compress_context" in names
            stored = structured(await client.call_tool("memory_store", {"content": PROSE}))
            got = await client.call_tool("memory_get", {"id": stored["id"], "form": "original"})
            assert structured(got)["text"] == PROSE
            bad = await client.call_tool("compress_context", {"paths": ["/etc/passwd"]})
            assert bad.is_error


def test_loopback_only_without_token(root: Path) -> None:
    from compression_layer.errors import ConfigError
    from compression_layer.server.security import check_bind

    check_bind("127.0.0.1", None)
    check_bind("::1", None)
    check_bind("0.0.0.0", "token")
    with pytest.raises(ConfigError, match="COMPRESSION_LAYER_TOKEN"):
        check_bind("0.0.0.0", None)
    with pytest.raises(ConfigError, match=r"refusing to bind 192\.168\.1\.5"):
        check_bind("192.168.1.5", None)
