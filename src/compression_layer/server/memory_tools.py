"""Memory tools and ``adapter_status``: thin wrappers over the memory store and engine state."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import anyio
from pydantic import Field

from compression_layer.errors import InputError
from compression_layer.server.models import (
    AdapterInfo,
    AdapterStatusResult,
    MemoryDeleteResult,
    MemoryHit,
    MemoryListResult,
    MemoryRecord,
    MemorySearchResult,
)
from compression_layer.server.tools import ServerContext, as_tool_errors, state_of

Namespace = Annotated[
    str, Field(min_length=1, description="Memory namespace, e.g. a project or user name")
]
MemoryId = Annotated[str, Field(min_length=1, description="The id a memory tool returned")]
ADAPTER_KINDS = ("extractive", "generative")


def memory_uri(namespace: str, memory_id: str) -> str:
    return f"memory://{namespace}/{memory_id}"


def to_record(memory: Any, form: Literal["original", "compressed"] | None) -> MemoryRecord:
    """A store ``Memory`` as a tool result; ``form=None`` leaves the text out."""
    text = None if form is None else memory.content if form == "original" else memory.compressed
    return MemoryRecord(
        id=memory.id,
        uri=memory_uri(memory.namespace, memory.id),
        namespace=memory.namespace,
        form=form or "none",
        text=text,
        tokens_original=memory.tokens_original,
        tokens_compressed=memory.tokens_compressed,
        engine=memory.engine,
        status=getattr(memory, "status", None),
        tags=list(memory.tags),
        metadata=dict(memory.metadata or {}),
        created_at=memory.created_at,
        updated_at=memory.updated_at,
    )


async def _store(ctx: ServerContext) -> Any:
    state = state_of(ctx)
    if state.memory is None:
        raise InputError(f"the memory store is not available: {state.memory_error or 'not open'}")
    if not state.warmed.is_set():  # the embedder is still loading in the background
        await anyio.to_thread.run_sync(state.warmed.wait)
    return state.memory


async def memory_store(
    ctx: ServerContext,
    content: Annotated[str, Field(description="What to remember, in full")],
    namespace: Namespace = "default",
    tags: Annotated[list[str] | None, Field(description="Labels to filter by later")] = None,
    metadata: Annotated[
        dict[str, Any] | None, Field(description="Small JSON object kept with the memory")
    ] = None,
    compress: Annotated[
        bool, Field(description="Keep a compressed form for injection (the original is kept too)")
    ] = True,
) -> MemoryRecord:
    """Save a fact, decision, summary or document to long-term memory for later conversations.

    The original is always kept; a compressed form is stored for cheap injection. Returns the new
    memory's id, uri and token counts (not the text you just sent). Storing the same content twice
    in a namespace does not create a duplicate.
    """
    with as_tool_errors():
        store = await _store(ctx)
        memory = await store.store(
            content,
            namespace=namespace,
            tags=tuple(tags or ()),
            metadata=metadata,
            compress=compress,
        )
        return to_record(memory, None)


async def memory_search(
    ctx: ServerContext,
    query: Annotated[str, Field(min_length=1, description="What you are looking for")],
    namespace: Namespace = "default",
    k: Annotated[int, Field(gt=0, le=100, description="At most this many hits")] = 10,
    tags: Annotated[
        list[str] | None, Field(description="Only memories with all these tags")
    ] = None,
    max_tokens: Annotated[
        int | None, Field(gt=0, description="Stop adding hits once their texts reach this budget")
    ] = None,
) -> MemorySearchResult:
    """Find stored memories relevant to a query (keyword + semantic search), best first.

    Use it to recall what was saved in earlier conversations. Hits carry the compressed text,
    ready to use as context; `max_tokens` caps their total size. Use memory_get for an original.
    """
    from compression_layer.tokens import count_tokens

    with as_tool_errors():
        store = await _store(ctx)
        hits = await store.search(query, namespace=namespace, k=k, tags=tags, max_tokens=max_tokens)
        out = [
            MemoryHit(
                id=h.id,
                uri=memory_uri(namespace, h.id),
                score=float(h.score),
                text=h.compressed,
                metadata=dict(h.metadata or {}),
            )
            for h in hits
        ]
        return MemorySearchResult(hits=out, tokens=sum(count_tokens(h.text) for h in out))


async def memory_get(
    ctx: ServerContext,
    id: MemoryId,
    form: Annotated[
        Literal["original", "compressed"],
        Field(description="'compressed' (short, default) or 'original' (the full text)"),
    ] = "compressed",
) -> MemoryRecord:
    """Fetch one memory by id, as its compressed form or its full original text."""
    with as_tool_errors():
        store = await _store(ctx)
        return to_record(await store.get(id), form)


async def memory_delete(ctx: ServerContext, id: MemoryId) -> MemoryDeleteResult:
    """Delete one memory permanently (original and compressed form). Cannot be undone."""
    with as_tool_errors():
        store = await _store(ctx)
        await store.delete(id)  # an unknown id raises: the model sees it, not a silent no-op
        return MemoryDeleteResult(id=id, deleted=True)


async def memory_list(
    ctx: ServerContext,
    namespace: Namespace = "default",
    limit: Annotated[int, Field(gt=0, le=200, description="Page size")] = 20,
    cursor: Annotated[str | None, Field(description="next_cursor of the previous page")] = None,
) -> MemoryListResult:
    """List the memories of a namespace in the order they were stored, without their text.

    Page with `cursor`. Use memory_get to read one, memory_search to find by meaning.
    """
    with as_tool_errors():
        store = await _store(ctx)
        page = await store.list(namespace, limit, cursor)
        items, next_cursor = _page(page)
        return MemoryListResult(
            namespace=namespace, items=[to_record(m, None) for m in items], next_cursor=next_cursor
        )


def _page(page: Any) -> tuple[list[Any], str | None]:
    """Accept the store's page as an object with items/next_cursor, a pair, or a plain list."""
    if hasattr(page, "items") and not isinstance(page, dict | list | tuple):
        return list(page.items), getattr(page, "next_cursor", None)
    if isinstance(page, tuple) and len(page) == 2:
        return list(page[0]), page[1]
    return list(page), None


async def adapter_status(
    ctx: ServerContext,
    kind: Annotated[
        str | None, Field(description="extractive or generative; omit for every kind")
    ] = None,
) -> AdapterStatusResult:
    """Which compression adapter of each kind is active, its evaluation metrics, the last swap to
    a newly promoted adapter and the last load error. Also lists the engine names
    compress_context accepts."""
    from compression_layer.compress.pipeline import engine_names

    state = state_of(ctx)
    with as_tool_errors():
        if kind is not None and kind not in ADAPTER_KINDS:
            choices = ", ".join(ADAPTER_KINDS)
            raise InputError(f"unknown adapter kind {kind!r}; choose one of {choices}")
        records = state.engines.adapters()
        held = state.adapters.status() if state.adapters is not None else {}
        infos = [
            AdapterInfo(
                kind=r.kind,
                name=r.name,
                path=r.path,
                source=r.source,
                loaded=r.loaded,
                metrics=dict(r.manifest.get("metrics") or {}),
                created_at=r.manifest.get("created_at"),
                last_swap=r.last_swap,
                last_error=(held[r.kind].last_error if r.kind in held else None) or r.last_error,
                registry_active=held[r.kind].registry_active if r.kind in held else None,
            )
            for r in records.values()
            if kind is None or r.kind == kind
        ]
        snapshot = state.engines.current
        return AdapterStatusResult(
            adapters=infos,
            engines=engine_names(),
            default_engine=snapshot.settings.engine,
            generation=snapshot.generation,
        )
