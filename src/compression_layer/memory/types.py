"""Typed results of the memory store: what ``store``, ``search``, ``list`` and ``stats`` return."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

StoreStatus = Literal["created", "existing", "near_duplicate_skipped", "near_duplicate_updated"]


class Memory(BaseModel):
    """One stored memory: the original ``content`` is kept next to its ``compressed`` form."""

    id: str
    namespace: str
    user_id: str | None = Field(None, description="scope: the user this memory belongs to")
    agent_id: str | None = Field(None, description="scope: the agent this memory belongs to")
    run_id: str | None = Field(None, description="scope: the run (session) it belongs to")
    content: str
    compressed: str
    engine: str = Field(description="compression engine used; 'none' when stored uncompressed")
    adapter: str | None = None
    domain: str
    tokens_original: int = Field(description="o200k_base tokens of content")
    tokens_compressed: int = Field(description="o200k_base tokens of compressed")
    content_hash: str = Field(description="sha256 of content (UTF-8)")
    tags: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)
    created_at: str = Field(description="ISO 8601, UTC")
    updated_at: str = Field(description="ISO 8601, UTC")
    deleted_at: str | None = Field(
        None, description="ISO 8601, UTC: soft-deleted (restorable until purged); None: live"
    )
    status: StoreStatus | None = Field(
        None,
        description="set by store(): created, existing (same content already in the namespace), "
        "near_duplicate_skipped (a similar memory was kept instead) or near_duplicate_updated",
    )
    notes: list[str] = Field(
        default_factory=list,
        description="set by store(): what was merged into an existing memory instead of being "
        "written anew (tags added, metadata keys set)",
    )


class SearchHit(BaseModel):
    """One search result, best first; ``score`` (0..1) is the estimated probability that the
    hit is relevant (calibrated for the packaged MiniLM; with another embedder, the fused rank
    score scaled to 0..1)."""

    id: str
    namespace: str
    user_id: str | None = None
    agent_id: str | None = None
    run_id: str | None = None
    score: float
    compressed: str
    content: str
    metadata: dict[str, Any] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)
    tokens_original: int
    tokens_compressed: int
    dense_rank: int | None = Field(None, description="1-based rank in the dense list, if in it")
    bm25_rank: int | None = Field(None, description="1-based rank in the BM25 list, if in it")
    superseded_by: str | None = Field(
        None,
        description="id of a newer hit that is nearly the same text but differs in a fact or in "
        "a negation, modal, condition or comparison: it may correct this one, and ranks above it",
    )


class MemoryPage(BaseModel):
    """A page of ``list()``; pass ``next_cursor`` back to get the next page (None: no more)."""

    items: list[Memory]
    next_cursor: str | None = None


class StoreStats(BaseModel):
    """Counts and token savings, for one namespace or the whole store."""

    memories: int
    namespaces: dict[str, int] = Field(description="memories per namespace")
    tokens_original: int
    tokens_compressed: int
    tokens_saved: int
    embeddings: int = Field(description="distinct embedded texts kept")
    deleted: int = Field(0, description="soft-deleted memories not purged yet (not in memories)")
    schema_version: int
    db_path: str


HistoryAction = Literal["create", "update", "merge", "delete", "restore", "import"]


class HistoryEntry(BaseModel):
    """One change of a memory, oldest first in ``MemoryStore.history``.

    ``changes`` maps each changed field (content, compressed, tags, metadata, user_id, agent_id,
    run_id, deleted_at) to ``{"old": ..., "new": ...}``; a 'create' has none.
    """

    seq: int = Field(description="order of the change in the whole store")
    memory_id: str
    action: HistoryAction
    changes: dict[str, dict[str, Any]] = Field(default_factory=dict)
    actor: str | None = Field(None, description="who made the change, when known")
    at: str = Field(description="ISO 8601, UTC")


class NamespaceCount(BaseModel):
    """A namespace and how many live memories it holds."""

    namespace: str
    memories: int


class ScopeCount(BaseModel):
    """One scope of a namespace (None: the part is not set) and its live memories."""

    user_id: str | None = None
    agent_id: str | None = None
    run_id: str | None = None
    memories: int
