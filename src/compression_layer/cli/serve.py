"""Top-level ``serve`` and ``install-claude`` commands, added to the main CLI by ``register``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Literal

import typer

from compression_layer.errors import CompressionLayerError


def _fail(message: str) -> typer.Exit:
    sys.stderr.write(f"error: {message}\n")
    return typer.Exit(2)


def serve(
    transport: Annotated[
        str | None, typer.Option(help="stdio (for Claude Desktop) or http (streamable HTTP)")
    ] = None,
    host: Annotated[str | None, typer.Option(help="HTTP bind address (default 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="HTTP port (default 8765)")] = None,
    root: Annotated[
        list[Path] | None,
        typer.Option(help="folder compress_context may read (repeatable; default: cwd)"),
    ] = None,
) -> None:
    """Run the MCP server (stdio by default; HTTP needs COMPRESSION_LAYER_TOKEN off loopback)."""
    from compression_layer.server.app import build_server, quiet_libraries
    from compression_layer.server.transports import print_banner, serve_http, serve_stdio
    from compression_layer.settings import ServerSettings, load_area

    quiet_libraries()
    if transport is not None and transport not in ("stdio", "http"):
        raise _fail(f"unknown transport {transport!r}; choose stdio or http")
    try:
        settings = load_area(
            ServerSettings, transport=transport, host=host, port=port, roots=root or None
        )
        mode: Literal["stdio", "http"] = settings.transport
        if mode == "http":
            serve_http(build_server(settings, on_ready=print_banner(settings)), settings)
        else:
            serve_stdio(build_server(settings))
    except CompressionLayerError as exc:
        raise _fail(str(exc)) from None
    except KeyboardInterrupt:
        pass


def install_claude(
    config: Annotated[
        Path | None, typer.Option(help="config file (default: Claude Desktop's for this platform)")
    ] = None,
    root: Annotated[
        list[Path] | None,
        typer.Option(help="folder the server may read files from (repeatable; default: cwd)"),
    ] = None,
    print_only: Annotated[
        bool, typer.Option("--print", help="only print the merged JSON; write nothing")
    ] = False,
) -> None:
    """Add (or update) this server in Claude Desktop's claude_desktop_config.json (stdio)."""
    from compression_layer.server import claude
    from compression_layer.server.transports import claude_entry

    entry = claude_entry()
    roots = [str(p.expanduser().resolve()) for p in (root or [Path.cwd()])]
    # Claude Desktop starts servers from an arbitrary directory, so the roots are pinned here.
    entry["env"]["COMPRESSION_LAYER_SERVER__ROOTS"] = json.dumps(roots)
    target = config or claude.default_config_path()
    try:
        if print_only:
            merged = claude.merged_config(claude.read_config(target), entry)
            sys.stdout.write(json.dumps(merged, indent=2, ensure_ascii=False) + "\n")
            return
        outcome = claude.install(entry, target)
    except CompressionLayerError as exc:
        raise _fail(str(exc)) from None
    if not outcome.changed:
        sys.stderr.write(f"{outcome.path}: already up to date, nothing written\n")
        return
    if outcome.backup:
        sys.stderr.write(f"backup: {outcome.backup}\n")
    sys.stderr.write(f"wrote {outcome.path}; restart Claude Desktop to load compression-layer\n")


def register(app: typer.Typer) -> None:
    """Add the ``serve`` and ``install-claude`` commands to ``app``."""
    app.command("serve")(serve)
    app.command("install-claude")(install_claude)
