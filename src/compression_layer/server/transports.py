"""Running the server: stdio, or streamable HTTP behind Host/Origin checks and a bearer token.

Both transports answer every payload (``server/wire.py``): stdio through the server's own line
reader (``server/stdio.py``), HTTP through ``JsonRpcGuard`` in front of the SDK's endpoint, which
refuses what is not one JSON-RPC message with a JSON-RPC error body, and ``JsonErrorBodies``,
which gives the SDK's plain-text refusals (413, 421, 403, ...) one too.
"""

from __future__ import annotations

import json
import logging
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from mcp_types import INTERNAL_ERROR, INVALID_REQUEST
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from compression_layer.server.security import (
    TOKEN_ENV,
    BearerTokenMiddleware,
    allowed_hosts_origins,
    check_bind,
    read_token,
)
from compression_layer.server.state import ServerState
from compression_layer.server.wire import Refusal, check_message, message_limit, too_large
from compression_layer.settings import ServerSettings

log = logging.getLogger(__name__)


def http_app(
    server: MCPServer[ServerState], settings: ServerSettings, token: str | None
) -> ASGIApp:
    """The ASGI app: the SDK's streamable HTTP endpoint, DNS-rebinding checks always on, every
    refusal a JSON-RPC error body, at most ``settings.max_sessions`` sessions open at once."""
    hosts, origins = allowed_hosts_origins(
        settings.host, settings.port, settings.allowed_hosts, settings.allowed_origins
    )
    security = TransportSecuritySettings(
        enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins
    )
    limit = message_limit(settings)
    app: ASGIApp = server.streamable_http_app(
        streamable_http_path=settings.path,
        transport_security=security,
        host=settings.host,
        max_request_body_size=limit,
        max_sessions=settings.max_sessions,
        session_idle_timeout=settings.session_idle_seconds,
    )
    app = JsonRpcGuard(app, settings.path, limit)
    busy = (
        f"too many open sessions: this server allows {settings.max_sessions} at once "
        "(COMPRESSION_LAYER_SERVER__MAX_SESSIONS); end one with DELETE, or retry once an idle "
        f"one expires ({settings.session_idle_seconds:g} s)"
    )
    app = JsonErrorBodies(app, {503: busy})
    return BearerTokenMiddleware(app, token) if token else app


async def _respond(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class JsonRpcGuard:
    """ASGI middleware: a POST to the endpoint must carry one JSON-RPC message.

    The body is read (at most ``limit`` bytes) and checked like a stdio line; a refusal is
    answered here (400, or 413 over the limit) with a JSON-RPC error carrying the request's id
    when it can be read. A valid body is handed on to the SDK unchanged.
    """

    def __init__(self, app: ASGIApp, path: str, limit: int) -> None:
        self.app = app
        self.path = path.rstrip("/") or "/"
        self.limit = limit

    def _applies(self, scope: Scope) -> bool:
        if scope["type"] != "http" or scope.get("method") != "POST":
            return False
        if (scope.get("path", "").rstrip("/") or "/") != self.path:
            return False
        for name, value in scope.get("headers", []):
            if name == b"content-type":
                return bool(value.split(b";")[0].strip().lower() == b"application/json")
        return False  # the SDK answers a missing or other content type (415)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._applies(scope):
            await self.app(scope, receive, send)
            return
        body = bytearray()
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if len(body) <= self.limit:
                body += chunk
            if not message.get("more_body", False):
                break
        if size > self.limit:
            await _respond(send, 413, too_large(size, self.limit, bytes(body[:65_536])).body())
            return
        outcome = check_message(bytes(body), one_per="request")
        if isinstance(outcome, Refusal):
            log.info("refused an HTTP message: %s", outcome.message)
            await _respond(send, 400, outcome.body())
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        await self.app(scope, replay, send)


class JsonErrorBodies:
    """ASGI middleware: every error response (4xx/5xx) carries a JSON-RPC error body.

    Plain-text refusals (the SDK's 413, 421, 403, ...) are wrapped, with ``id: null``;
    ``messages`` replaces the message of a status (e.g. 503, to say which limit was hit).
    Successful responses (JSON or SSE streams) pass through untouched.
    """

    def __init__(self, app: ASGIApp, messages: dict[int, str] | None = None) -> None:
        self.app = app
        self.messages = messages or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        held: dict[str, Any] = {}
        parts: list[bytes] = []

        async def rewrite(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] >= 400:
                held.update(message)
                return
            if message["type"] != "http.response.body" or not held:
                await send(message)
                return
            parts.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            status = int(held["status"])
            body = self._body(status, b"".join(parts))
            headers = [
                (k, v)
                for k, v in held.get("headers", [])
                if k.lower() not in (b"content-type", b"content-length")
            ]
            headers += [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ]
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, rewrite)

    def _body(self, status: int, body: bytes) -> bytes:
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        is_error = isinstance(parsed, dict) and isinstance(parsed.get("error"), dict)
        if is_error and status not in self.messages:
            return body
        text = body.decode("utf-8", errors="replace").strip() or f"HTTP {status}"
        if is_error:
            assert isinstance(parsed, dict)
            code, request_id = parsed["error"].get("code", INTERNAL_ERROR), parsed.get("id")
        else:
            code, request_id = (INVALID_REQUEST if status < 500 else INTERNAL_ERROR), None
        message = self.messages.get(status, text)
        return Refusal(code, message, request_id).body()


def serve_stdio(server: MCPServer[ServerState]) -> None:
    """Serve over stdin/stdout (what Claude Desktop launches); ``build_server()`` servers answer
    every line, malformed ones included (``server/stdio.py``)."""
    anyio.run(server.run_stdio_async)


def print_banner(settings: ServerSettings) -> Callable[[ServerState], None]:
    """An ``on_ready`` hook printing the HTTP banner to stderr once the server is loaded."""

    def hook(_: ServerState) -> None:
        sys.stderr.write(banner(settings, read_token() is not None))
        sys.stderr.flush()

    return hook


def serve_http(server: MCPServer[ServerState], settings: ServerSettings) -> None:
    """Serve streamable HTTP with uvicorn; refuses a non-loopback bind without a token.

    Build ``server`` with ``on_ready=print_banner(settings)`` to print how to connect.
    """
    import uvicorn

    token = read_token()
    check_bind(settings.host, token)
    app = http_app(server, settings, token)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        access_log=False,  # request lines would end up in logs with nothing useful in them
        lifespan="on",
    )
    anyio.run(uvicorn.Server(config).serve)


def endpoint_url(settings: ServerSettings) -> str:
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{settings.port}{settings.path}"


def stdio_command() -> tuple[str, list[str]]:
    """How Claude Desktop should launch us: the installed script, else this Python's ``-m``."""
    script = Path(sys.executable).with_name("compression-layer")
    found = str(script) if script.is_file() else shutil.which("compression-layer")
    if found:
        return str(Path(found).resolve()), ["serve"]
    return str(Path(sys.executable).absolute()), ["-m", "compression_layer.server", "serve"]


def claude_entry() -> dict[str, Any]:
    """The ``mcpServers`` entry for ``claude_desktop_config.json`` (stdio transport)."""
    command, args = stdio_command()
    return {"command": command, "args": args, "env": {"HF_HUB_OFFLINE": "1"}}


def banner(settings: ServerSettings, has_token: bool) -> str:
    """What to print on STDERR when the HTTP server starts: URL, auth, Claude Desktop entry."""
    url = endpoint_url(settings)
    auth = (
        f"  auth:     send 'Authorization: Bearer <token>' (the value of ${TOKEN_ENV})\n"
        if has_token
        else f"  auth:     none (loopback only; set {TOKEN_ENV} to require a bearer token)\n"
    )
    entry = json.dumps({"mcpServers": {"compression-layer": claude_entry()}}, indent=2)
    return (
        "\ncompression-layer MCP server (streamable HTTP)\n"
        f"  endpoint: {url}\n"
        f"{auth}"
        f"  inspect:  npx @modelcontextprotocol/inspector --cli {url} --method tools/list\n"
        "  Claude Desktop (stdio) - add to claude_desktop_config.json, or run "
        "'compression-layer install-claude':\n"
        f"{entry}\n\n"
    )
