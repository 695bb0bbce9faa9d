"""The ``retrieve`` tool: what a ``compress_context`` marker left out, back exactly.

The server keeps each input it compresses with a budget in the original store (opened once in
the lifespan, in the server's own namespace); markers in the compressed text name the handle and
a selector. The text content is the retrieved text itself, nothing around it; the structured
content says what was selected and how long it is. A part too large for the transport is refused
before it is sent, with the line ranges that would fit.
"""

from __future__ import annotations

import hashlib
import os
from functools import partial
from typing import Annotated, Any

import anyio
from mcp_types import CallToolResult, TextContent
from pydantic import BaseModel, Field

from compression_layer.errors import InputError
from compression_layer.originals.select import split_lines
from compression_layer.server.limits import refuse_large_retrieval, result_limit
from compression_layer.server.tools import ServerContext, as_tool_errors, over_http, state_of
from compression_layer.settings import OriginalsSettings, load_area
from compression_layer.settings.areas import setting_name

TOKEN_ENV = "COMPRESSION_LAYER_TOKEN"


class RetrieveResult(BaseModel):
    """What ``retrieve`` returned; the text itself is the tool's text content."""

    handle: str
    domain: str = Field(description="the original's domain (json, log, code:python, ...)")
    selector: dict[str, str] = Field(description="the selector applied; empty: the whole original")
    chars: int = Field(description="characters of the retrieved text (the text content)")
    lines: int = Field(description="lines of the retrieved text")


def open_store(transport: str) -> Any:
    """The server's original store, or None when ``originals.server`` is off.

    Namespaced ``<originals.namespace>/mcp``, and over HTTP by the bearer token's digest too (the
    one principal HTTP knows), so handles from another server or token are unknown here.
    """
    from compression_layer.originals.store import OriginalStore

    cfg = load_area(OriginalsSettings)
    if not cfg.server:
        return None
    namespace = f"{cfg.namespace}/mcp"
    token = os.environ.get(TOKEN_ENV)
    if transport == "http" and token:
        namespace += "/" + hashlib.sha256(token.encode("utf-8")).hexdigest()[:16]
    return OriginalStore.open(namespace=namespace, settings=cfg)


def _fetch(store: Any, handle: str, selector: dict[str, str]) -> tuple[str, str, str]:
    original = store.get(handle)
    return (
        original.handle,
        original.domain,
        store.select(original.text, original.domain, **selector),
    )


async def retrieve(
    ctx: ServerContext,
    handle: Annotated[
        str, Field(description="The handle in a marker, e.g. o_3fa9c2d1e0 (or a result's handle)")
    ],
    lines: Annotated[
        str, Field(description="Line ranges of the original, 1-based inclusive: 220-1422,1500")
    ] = "",
    path: Annotated[str, Field(description="JSON path, e.g. $.items or $.a[3]")] = "",
    rows: Annotated[
        str, Field(description="Elements of the array at path, 0-based inclusive: 5-51")
    ] = "",
    symbol: Annotated[str, Field(description="A function or class: Name or Class.method")] = "",
    match: Annotated[str, Field(description="Only the lines containing this text")] = "",
) -> Annotated[CallToolResult, RetrieveResult]:
    """Get back exactly what compress_context left out behind a marker.

    A marker such as `[47 rows omitted: retrieve o_3fa9c2d1e0 path=$.items rows=5-51]` names a
    handle and a selector: pass them as arguments (handle="o_3fa9c2d1e0", path="$.items",
    rows="5-51"). With only the handle, returns the whole original. Returns the original text of
    that part, unchanged, with nothing added.
    """
    state = state_of(ctx)
    with as_tool_errors():
        store = state.originals
        if store is None:
            raise InputError(
                "this server keeps no originals (set "
                f"{setting_name(OriginalsSettings, 'server')} to true), so nothing can be retrieved"
            )
        selector = {
            key: value
            for key, value in (
                ("lines", lines),
                ("path", path),
                ("rows", rows),
                ("symbol", symbol),
                ("match", match),
            )
            if value
        }
        found, domain, text = await anyio.to_thread.run_sync(
            partial(_fetch, store, handle, selector)
        )
        limit = result_limit(state.settings, http=over_http(ctx))
        if limit is not None:
            refuse_large_retrieval(text, state.settings, limit, selector)
        result = RetrieveResult(
            handle=found,
            domain=domain,
            selector=selector,
            chars=len(text),
            lines=len(split_lines(text)) if text else 0,
        )
        return CallToolResult(
            content=[TextContent(type="text", text=text)],
            structured_content=result.model_dump(mode="json"),
        )
