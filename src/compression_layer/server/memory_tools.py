"""Memory tools and ``adapter_status``: thin wrappers over the memory store and engine state."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import anyio
from mcp_types import CallToolResult
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
from compression_layer.server.tools import (
    ServerContext,
    as_tool_errors,
    clip,
    listing,
    state_of,
    tool_result,
)

Namespace = Annotated[
    str, Field(min_length=1, description="Memory namespace, e.g. a project or user name")
]
MemoryId = Annotated[str, Field(min_length=1, description="The id a memory tool returned")]
UserId = Annotated[
    str | None, Field(description="Scope: the user the memories belong to (omit: no user)")
]
AgentId = Annotated[
    str | None, Field(description="Scope: the agent the memories belong to (omit: no agent)")
]
RunId = Annotated[
    str | None, Field(description="Scope: the run or session they belong to (omit: no run)")
]
Filters = Annotated[
    dict[str, Any] | None,
    Field(
        description='Metadata conditions, all must hold: {"key": value}, {"key": {"gte": 3, '
        '"lt": 10}}, {"key": {"in": ["a", "b"]}}; operators eq, in, gt, gte, lt, lte; ranges '
        "take numbers or ISO dates (2024-05-01); a dotted key reads a nested value"
    ),
]
AllScopes = Annotated[
    bool,
    Field(
        description="Read every scope that matches the user/agent/run given (omitted parts "
        "match any); only where the server allows it"
    ),
]
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
        notes=list(getattr(memory, "notes", None) or []),
        tags=list(memory.tags),
        metadata=dict(memory.metadata or {}),
        created_at=memory.created_at,
        updated_at=memory.updated_at,
        user_id=getattr(memory, "user_id", None),
        agent_id=getattr(memory, "agent_id", None),
        run_id=getattr(memory, "run_id", None),
    )


def scope_text(user_id: str | None, agent_id: str | None, run_id: str | None) -> str:
    """`` (user alice, run r1)`` for a scoped memory; empty without a scope."""
    parts = [f"{k} {v}" for k, v in (("user", user_id), ("agent", agent_id), ("run", run_id)) if v]
    return f" ({', '.join(parts)})" if parts else ""


def scope_args(
    store: Any,
    user_id: str | None,
    agent_id: str | None,
    run_id: str | None,
    filters: dict[str, Any] | None = None,
    all_scopes: bool = False,
) -> dict[str, Any]:
    """Keyword arguments of a scoped read; all_scopes is refused unless the server allows it."""
    if all_scopes and not getattr(getattr(store, "settings", None), "allow_all_scopes", False):
        raise InputError(
            "all_scopes is not allowed on this server (memory.allow_all_scopes is off): "
            "name the user_id / agent_id / run_id to read"
        )
    args: dict[str, Any] = {"user_id": user_id, "agent_id": agent_id, "run_id": run_id}
    if filters:
        args["filters"] = filters
    if all_scopes:
        args["all_scopes"] = True
    return args


def _tags(tags: list[str]) -> str:
    return f", tags {','.join(tags)}" if tags else ""


def figures(record: MemoryRecord) -> str:
    """``92→48 tokens, extractive, tags a,b``: one memory's figures."""
    engine = f", {record.engine}" if record.engine else ""
    tokens = f"{record.tokens_original}→{record.tokens_compressed} tokens"
    return f"{tokens}{engine}{_tags(record.tags)}"


def _hit_line(hit: MemoryHit) -> str:
    newer = f", superseded by [{hit.superseded_by}]" if hit.superseded_by else ""
    return f"[{hit.id}] (score {hit.score:.2f}{_tags(hit.tags)}{newer}) {hit.text.strip()}"


def search_text(result: MemorySearchResult) -> str:
    """One hit per line, best first; a blank line between hits when any text spans lines."""
    if not result.hits:
        return "no memories match"
    lines = [_hit_line(h) for h in result.hits]
    return ("\n\n" if any("\n" in line for line in lines) else "\n").join(lines)


def list_text(result: MemoryListResult, previews: dict[str, str]) -> str:
    """One memory per line with a short preview; the cursor of the next page last."""
    if not result.items:
        return f"no memories in namespace {result.namespace}"
    lines = [
        f"[{r.id}]{scope_text(r.user_id, r.agent_id, r.run_id)} ({figures(r)}) "
        f"{clip(previews.get(r.id, ''), 60)}"
        for r in result.items
    ]
    if result.next_cursor:
        lines.append(f"more: cursor={result.next_cursor}")
    return "\n".join(lines)


async def memory_of(ctx: ServerContext) -> Any:
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
    user_id: UserId = None,
    agent_id: AgentId = None,
    run_id: RunId = None,
) -> Annotated[CallToolResult, MemoryRecord]:
    """Save a fact, decision, summary or document to long-term memory for later conversations.

    The original is always kept; a compressed form is stored for cheap injection. Returns one
    line: the memory's id, whether it was created (or already existed) and its token counts, not
    the text you just sent. Storing the same content twice in a namespace and scope makes no
    duplicate. user_id / agent_id / run_id scope it: later reads see it only with the same
    scope.
    """
    with as_tool_errors():
        store = await memory_of(ctx)
        memory = await store.store(
            content,
            namespace=namespace,
            tags=tuple(tags or ()),
            metadata=metadata,
            compress=compress,
            **scope_args(store, user_id, agent_id, run_id),
        )
        record = to_record(memory, None)
        status = record.status or "stored"
        where = scope_text(record.user_id, record.agent_id, record.run_id)
        text = f"{status} [{record.id}] in {namespace}{where}: {figures(record)}"
        if record.notes:
            text += "; " + listing("notes", record.notes, 2, 80)
        return tool_result(text, record)


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
    min_score: Annotated[
        float | None,
        Field(ge=0, le=1, description="Drop hits less likely than this to be relevant (0-1)"),
    ] = None,
    user_id: UserId = None,
    agent_id: AgentId = None,
    run_id: RunId = None,
    filters: Filters = None,
    all_scopes: AllScopes = False,
) -> Annotated[CallToolResult, MemorySearchResult]:
    """Find stored memories relevant to a query (keyword + semantic search), best first.

    Use it to recall what was saved in earlier conversations. Returns one hit per line,
    `[id] (score, tags) compressed text`, ready to use as context; `max_tokens` caps their total
    size. A hit marked `superseded by [id]` has a newer, nearly identical memory that differs in
    a fact or a negation and may correct it. Use memory_get with the id for the original.
    Searches the scope given (user_id / agent_id / run_id; none: unscoped memories) and only
    memories whose metadata meets `filters`.
    """
    from compression_layer.tokens import count_tokens

    with as_tool_errors():
        store = await memory_of(ctx)
        scoped = scope_args(store, user_id, agent_id, run_id, filters, all_scopes)
        hits = await store.search(
            query,
            namespace=namespace,
            k=k,
            tags=tags,
            max_tokens=max_tokens,
            **({} if min_score is None else {"min_score": min_score}),
            **scoped,
        )
        out = [
            MemoryHit(
                id=h.id,
                uri=memory_uri(namespace, h.id),
                score=float(h.score),
                text=h.compressed,
                tags=list(getattr(h, "tags", None) or []),
                superseded_by=getattr(h, "superseded_by", None),
                metadata=dict(h.metadata or {}),
            )
            for h in hits
        ]
        result = MemorySearchResult(hits=out, tokens=sum(count_tokens(h.text) for h in out))
        return tool_result(search_text(result), result)


async def memory_get(
    ctx: ServerContext,
    id: MemoryId,
    form: Annotated[
        Literal["original", "compressed"],
        Field(description="'compressed' (short, default) or 'original' (the full text)"),
    ] = "compressed",
) -> Annotated[CallToolResult, MemoryRecord]:
    """Fetch one memory by id, as its compressed form or its full original text.

    Returns the text, then one line in brackets with its id, form, token counts and tags."""
    with as_tool_errors():
        store = await memory_of(ctx)
        record = to_record(await store.get(id), form)
        tokens = record.tokens_original if form == "original" else record.tokens_compressed
        line = f"[{record.id}, {form}, {tokens} tokens{_tags(record.tags)}]"
        return tool_result(f"{(record.text or '').rstrip()}\n{line}", record)


async def memory_delete(
    ctx: ServerContext, id: MemoryId
) -> Annotated[CallToolResult, MemoryDeleteResult]:
    """Delete one memory: it disappears from search, list and get at once. It stays restorable
    for a while (`compression-layer memory restore ID`), then is purged for good."""
    with as_tool_errors():
        store = await memory_of(ctx)
        gone = await store.delete(id, actor="mcp")  # an unknown id raises, not a silent no-op
        settings = getattr(store, "settings", None)
        days = getattr(settings, "soft_delete_days", None)
        until = f"; restorable for {days:g} days" if gone.deleted_at and days else ""
        return tool_result(f"deleted [{id}]{until}", MemoryDeleteResult(id=id, deleted=True))


async def memory_list(
    ctx: ServerContext,
    namespace: Namespace = "default",
    limit: Annotated[int, Field(gt=0, le=200, description="Page size")] = 20,
    cursor: Annotated[str | None, Field(description="next_cursor of the previous page")] = None,
    user_id: UserId = None,
    agent_id: AgentId = None,
    run_id: RunId = None,
    filters: Filters = None,
    all_scopes: AllScopes = False,
) -> Annotated[CallToolResult, MemoryListResult]:
    """List the memories of a namespace in the order they were stored.

    One line each: `[id] tokens, engine, tags: the start of its compressed text`; the last line
    gives the cursor of the next page, if any. Use memory_get to read one in full,
    memory_search to find by meaning. Lists the scope given (user_id / agent_id / run_id) and
    only memories whose metadata meets `filters`; memory_namespaces shows what exists.
    """
    with as_tool_errors():
        store = await memory_of(ctx)
        scoped = scope_args(store, user_id, agent_id, run_id, filters, all_scopes)
        page = await store.list(namespace, limit, cursor, **scoped)
        items, next_cursor = _page(page)
        result = MemoryListResult(
            namespace=namespace, items=[to_record(m, None) for m in items], next_cursor=next_cursor
        )
        previews = {m.id: m.compressed for m in items}
        return tool_result(list_text(result, previews), result)


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
) -> Annotated[CallToolResult, AdapterStatusResult]:
    """Which compression adapter of each kind is active, its evaluation metrics, the last swap to
    a newly promoted adapter and the last load error. Also lists the engine names
    compress_context accepts."""
    state = state_of(ctx)
    with as_tool_errors():
        if kind is not None and kind not in ADAPTER_KINDS:
            choices = ", ".join(ADAPTER_KINDS)
            raise InputError(f"unknown adapter kind {kind!r}; choose one of {choices}")
        held = state.adapters.status() if state.adapters is not None else {}
        infos = [info for k, info in held.items() if kind is None or k == kind]
        snapshot = state.engines.current
        result = AdapterStatusResult(
            adapters=infos,
            engines=state.engine_table.names(),
            default_engine=snapshot.settings.engine,
            generation=snapshot.generation,
        )
        return tool_result(status_text(result), result)


def _metric(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _adapter_line(info: AdapterInfo) -> str:
    state = "loaded" if info.loaded else "not loaded"
    head = f"{info.kind}: {info.name or 'none'} ({info.source}, {state})"
    flat: dict[str, Any] = {}
    for key, value in info.metrics.items():  # one level of nesting: {"valid": {"auc": ..}}
        if isinstance(value, dict):
            flat.update({f"{key}.{sub}": v for sub, v in value.items()})
        else:
            flat[key] = value
    shown = {key: _metric(value) for key, value in flat.items()}
    numbers = [f"{key} {value}" for key, value in shown.items() if value is not None]
    if numbers:
        head += "; " + listing("metrics", numbers, 4, 30).removeprefix("metrics: ")
    if info.registry_active and info.registry_active != info.name:
        head += f"; registry wants {info.registry_active}"
    if info.last_swap:
        head += f"; swapped {info.last_swap:%Y-%m-%d %H:%M}"
    if info.last_error:
        head += f"; error: {clip(info.last_error, 80)}"
    return head


def status_text(result: AdapterStatusResult) -> str:
    """One line per adapter kind, then the engines."""
    lines = [_adapter_line(a) for a in result.adapters]
    lines.append(
        f"engines: {', '.join(result.engines)} (default {result.default_engine}, "
        f"generation {result.generation})"
    )
    return "\n".join(lines)
