"""Memory tools that change or describe what is stored: memory_update, memory_history,
memory_namespaces. Thin wrappers over the memory store, like ``memory_tools``."""

from __future__ import annotations

import json
from typing import Annotated, Any

from mcp_types import CallToolResult
from pydantic import BaseModel, Field

from compression_layer.errors import InputError
from compression_layer.server.memory_tools import (
    MemoryId,
    figures,
    memory_of,
    scope_text,
    to_record,
)
from compression_layer.server.models import MemoryRecord
from compression_layer.server.tools import ServerContext, as_tool_errors, clip, tool_result

HISTORY_SHOWN = 20  # most recent entries the model reads; the structured result has them all


class HistoryItem(BaseModel):
    seq: int
    action: str
    at: str
    actor: str | None = None
    changes: dict[str, dict[str, Any]] = Field(default_factory=dict)


class MemoryHistoryResult(BaseModel):
    id: str
    entries: list[HistoryItem]


class NamespaceItem(BaseModel):
    namespace: str
    memories: int


class ScopeItem(BaseModel):
    user_id: str | None = None
    agent_id: str | None = None
    run_id: str | None = None
    memories: int


class MemoryNamespacesResult(BaseModel):
    namespaces: list[NamespaceItem] = Field(default_factory=list)
    namespace: str | None = Field(None, description="set when the scopes of one are listed")
    scopes: list[ScopeItem] = Field(default_factory=list)


def merged_metadata(old: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """``old`` with the keys of ``patch`` set; a key set to null is removed."""
    out = {**old, **patch}
    return {k: v for k, v in out.items() if not (k in patch and patch[k] is None)}


async def memory_update(
    ctx: ServerContext,
    id: MemoryId,
    content: Annotated[
        str | None, Field(description="New full text (recompressed); omit to keep it")
    ] = None,
    tags: Annotated[
        list[str] | None, Field(description="New tag list, replacing the old one; omit to keep")
    ] = None,
    metadata: Annotated[
        dict[str, Any] | None,
        Field(description="Keys to set in the memory's metadata; a key set to null is removed"),
    ] = None,
) -> Annotated[CallToolResult, MemoryRecord]:
    """Correct or relabel a stored memory in place (same id). Prefer it to storing a second
    version when a fact changed. The previous values stay in its history (memory_history).
    Returns one line: what changed and the memory's token counts."""
    with as_tool_errors():
        if content is None and tags is None and metadata is None:
            raise InputError("nothing to update: give content, tags or metadata")
        store = await memory_of(ctx)
        old = await store.get(id)
        meta = merged_metadata(dict(old.metadata), metadata) if metadata is not None else None
        new = await store.update(id, content=content, tags=tags, metadata=meta, actor="mcp")
        changed = [
            name
            for name, before, after in (
                ("content", old.content, new.content),
                ("tags", old.tags, new.tags),
                ("metadata", old.metadata, new.metadata),
            )
            if json.dumps(before, sort_keys=True) != json.dumps(after, sort_keys=True)
        ]
        record = to_record(new, None)
        what = ", ".join(changed) if changed else "nothing changed"
        return tool_result(f"updated [{id}]: {what}; {figures(record)}", record)


def _value(value: Any) -> str:
    return clip(value if isinstance(value, str) else json.dumps(value, ensure_ascii=False), 50)


def _change(old: Any, new: Any) -> str:
    """``old → new``; two texts shown only where they differ (two words of context)."""
    if not (isinstance(old, str) and isinstance(new, str)):
        return f"{_value(old)} → {_value(new)}"
    a, b = old.split(), new.split()
    start = 0
    while start < min(len(a), len(b)) and a[start] == b[start]:
        start += 1
    end = 0
    while end < min(len(a), len(b)) - start and a[-1 - end] == b[-1 - end]:
        end += 1
    lo = max(0, start - 2)

    def span(words: list[str]) -> str:
        hi = len(words) - max(0, end - 2)
        text = " ".join(words[lo:hi])
        return ("…" if lo else "") + clip(text, 60) + ("…" if hi < len(words) else "")

    return f"{span(a)} → {span(b)}"


def history_text(result: MemoryHistoryResult) -> str:
    """One change per line, oldest first: ``#seq at action (by actor): field old → new``."""
    shown = result.entries[-HISTORY_SHOWN:]
    lines = []
    if len(result.entries) > len(shown):
        lines.append(f"({len(result.entries) - len(shown)} earlier changes not shown)")
    for e in shown:
        by = f" by {e.actor}" if e.actor else ""
        fields = "; ".join(
            f"{k} {_change(v.get('old'), v.get('new'))}"
            for k, v in e.changes.items()
            if k != "compressed"
        )
        lines.append(f"#{e.seq} {e.at[:19]} {e.action}{by}" + (f": {fields}" if fields else ""))
    return "\n".join(lines)


async def memory_history(
    ctx: ServerContext, id: MemoryId
) -> Annotated[CallToolResult, MemoryHistoryResult]:
    """Every change of one memory, oldest first: created, updated (old → new values), merged,
    deleted, restored; with who made it when known. Works for deleted memories too."""
    with as_tool_errors():
        store = await memory_of(ctx)
        entries = await store.history(id)
        result = MemoryHistoryResult(
            id=id,
            entries=[
                HistoryItem(seq=e.seq, action=e.action, at=e.at, actor=e.actor, changes=e.changes)
                for e in entries
            ],
        )
        return tool_result(history_text(result), result)


async def memory_namespaces(
    ctx: ServerContext,
    namespace: Annotated[
        str | None, Field(description="Give one to list its user/agent/run scopes instead")
    ] = None,
) -> Annotated[CallToolResult, MemoryNamespacesResult]:
    """What memory holds: every namespace with its number of memories, or (with `namespace`)
    the scopes in it (user / agent / run) with counts. One per line."""
    with as_tool_errors():
        store = await memory_of(ctx)
        if namespace is None:
            names = [
                NamespaceItem(namespace=n.namespace, memories=n.memories)
                for n in await store.list_namespaces()
            ]
            text = "\n".join(f"{n.namespace}: {n.memories}" for n in names) or "no memories"
            return tool_result(text, MemoryNamespacesResult(namespaces=names))
        scopes = [
            ScopeItem(user_id=s.user_id, agent_id=s.agent_id, run_id=s.run_id, memories=s.memories)
            for s in await store.list_scopes(namespace)
        ]
        lines = [
            f"{scope_text(s.user_id, s.agent_id, s.run_id).strip() or '(no scope)'}: {s.memories}"
            for s in scopes
        ]
        result = MemoryNamespacesResult(namespace=namespace, scopes=scopes)
        return tool_result("\n".join(lines) or f"no memories in namespace {namespace}", result)
