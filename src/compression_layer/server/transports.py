"""Running the server: stdio, or streamable HTTP behind Host/Origin checks and a bearer token."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import ASGIApp

from compression_layer.server.security import (
    TOKEN_ENV,
    BearerTokenMiddleware,
    allowed_hosts_origins,
    check_bind,
    read_token,
)
from compression_layer.server.state import ServerState
from compression_layer.settings import ServerSettings


def http_app(
    server: MCPServer[ServerState], settings: ServerSettings, token: str | None
) -> ASGIApp:
    """The ASGI app: the SDK's streamable HTTP endpoint, DNS-rebinding checks always on."""
    hosts, origins = allowed_hosts_origins(
        settings.host, settings.port, settings.allowed_hosts, settings.allowed_origins
    )
    security = TransportSecuritySettings(
        enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins
    )
    app: ASGIApp = server.streamable_http_app(
        streamable_http_path=settings.path,
        transport_security=security,
        host=settings.host,
        max_request_body_size=settings.max_text_bytes * 2 + 65_536,  # JSON escaping headroom
    )
    return BearerTokenMiddleware(app, token) if token else app


def serve_stdio(server: MCPServer[ServerState]) -> None:
    """Serve over stdin/stdout (what Claude Desktop launches)."""
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
