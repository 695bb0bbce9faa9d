"""MCP resources: ``memory://{namespace}/{id}`` reads a stored memory's original text."""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError

from compression_layer.errors import CompressionLayerError
from compression_layer.server.tools import ServerContext, state_of

MEMORY_TEMPLATE = "memory://{namespace}/{id}"


async def read_memory(namespace: str, id: str, ctx: ServerContext) -> str:
    """The original text of one memory; the namespace in the URI must be the memory's own."""
    store = state_of(ctx).memory
    if store is None:
        raise ResourceError("the memory store is not available")
    try:
        memory = await store.get(id)
    except CompressionLayerError as exc:
        raise ResourceNotFoundError(f"memory://{namespace}/{id}: {exc}") from exc
    if memory.namespace != namespace:
        raise ResourceNotFoundError(f"memory://{namespace}/{id}: no such memory in {namespace!r}")
    return str(memory.content)


def register_resources(server: MCPServer[object]) -> None:
    server.resource(
        MEMORY_TEMPLATE,
        name="memory",
        title="Stored memory",
        description="The original (uncompressed) text of a memory saved with memory_store.",
        mime_type="text/plain",
    )(read_memory)
