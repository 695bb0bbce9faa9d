"""Streamable HTTP: uvicorn in a thread, bearer token, DNS-rebinding (Host / Origin) refusals,
JSON-RPC error bodies on every refusal, the session cap."""

from __future__ import annotations

import secrets
from pathlib import Path

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.server.mcpserver import MCPServer

from compression_layer.server.state import ServerState
from compression_layer.server.transports import http_app
from compression_layer.settings import ServerSettings
from srv_helpers import PROSE, running, structured
from wire_cases import http_session

TOKEN = secrets.token_urlsafe(32)
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


def test_token_required_and_rebinding_refused(server: MCPServer[ServerState]) -> None:
    auth = {"authorization": f"Bearer {TOKEN}"}
    with running(server, TOKEN) as url, httpx2.Client(timeout=30) as http:
        missing = http.post(url, json=INIT, headers=HEADERS)
        assert missing.status_code == 401
        assert missing.headers["www-authenticate"].startswith("Bearer")
        assert missing.json()["error"]["code"] == -32600
        wrong = http.post(url, json=INIT, headers={**HEADERS, "authorization": "Bearer nope"})
        assert wrong.status_code == 401
        assert TOKEN not in wrong.text
        evil_host = http.post(url, json=INIT, headers={**HEADERS, **auth, "host": "evil.test"})
        assert evil_host.status_code == 421
        # Refusals carry a JSON-RPC error body, not the SDK's plain text.
        assert evil_host.json() == {
            "jsonrpc": "2.0",
            "id": None,
            "error": {"code": -32600, "message": "Invalid Host header"},
        }
        evil_origin = {**HEADERS, **auth, "origin": "http://evil.test"}
        refused = http.post(url, json=INIT, headers=evil_origin)
        assert refused.status_code == 403
        assert refused.json()["error"]["message"] == "Invalid Origin header"
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
    check_bind("127.0.0.1", "short")  # loopback: any token, or none, as before
    check_bind("0.0.0.0", TOKEN)
    with pytest.raises(ConfigError, match="COMPRESSION_LAYER_TOKEN"):
        check_bind("0.0.0.0", None)
    with pytest.raises(ConfigError, match=r"refusing to bind 192\.168\.1\.5"):
        check_bind("192.168.1.5", None)


def test_session_cap_and_idle_timeout_reach_the_sdk(server: MCPServer[ServerState]) -> None:
    http_app(server, ServerSettings(max_sessions=3, session_idle_seconds=42.0), None)
    assert server.session_manager.max_sessions == 3
    assert server.session_manager.session_idle_timeout == 42.0
    defaults = ServerSettings()
    assert defaults.max_sessions == 64 and defaults.session_idle_seconds == 1800.0


def test_session_cap_refuses_clearly_and_delete_frees_a_slot(
    server: MCPServer[ServerState],
) -> None:
    with running(server, None, max_sessions=2) as url, httpx2.Client(timeout=60) as http:
        first = http_session(http, url)
        http_session(http, url)
        refused = http.post(url, json=INIT, headers=HEADERS)
        assert refused.status_code == 503
        error = refused.json()["error"]
        assert "too many open sessions" in error["message"]
        assert "allows 2 at once" in error["message"] and "DELETE" in error["message"]
        # Sessions already open keep working at the cap.
        ping = {"jsonrpc": "2.0", "id": 5, "method": "ping"}
        assert http.post(url, json=ping, headers=first).status_code == 200
        assert http.delete(url, headers=first).status_code == 200
        again = http.post(url, json=INIT, headers=HEADERS)
        assert again.status_code == 200, again.text


def test_oversized_body_gets_a_json_rpc_error(server: MCPServer[ServerState]) -> None:
    with running(server, None, max_text_bytes=1000) as url, httpx2.Client(timeout=60) as http:
        headers = http_session(http, url)
        body = b'{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"x":"' + b"a" * 70_000
        refused = http.post(url, content=body + b'"}}', headers=headers)
        assert refused.status_code == 413
        assert refused.json()["id"] == 7
        assert "over the 67536-byte limit" in refused.json()["error"]["message"]
