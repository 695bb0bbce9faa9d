"""The MCP server: ``build_server()`` (in-process), ``compression-layer serve`` (stdio / HTTP).

Heavy imports (the SDK, engines) happen in the submodules, so importing the CLI stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from compression_layer.server.app import build_server

__all__ = ["build_server"]


def __getattr__(name: str) -> Any:
    if name == "build_server":
        from compression_layer.server.app import build_server

        return build_server
    raise AttributeError(name)
