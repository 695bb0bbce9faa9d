"""Structured results of the MCP tools (each becomes the tool's output schema)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from compression_layer.compress.types import CompressionResult


class FileCompression(BaseModel):
    """Numbers for one file of a multi-file ``compress_context`` call."""

    path: str
    domain: str
    engine: str
    tokens_original: int
    tokens_compressed: int
    facts_missing: list[str] = Field(default_factory=list)
    operators_missing: list[str] = Field(default_factory=list)


class CompressContextResult(CompressionResult):
    """The library's CompressionResult, plus a per-file breakdown when ``paths`` were given and
    what the tool's text content (what the model reads) holds.

    A large compressed text is sent once: ``compressed`` is then null and the text is the first
    ``compressed_chars`` characters of the text content (the line of figures follows it).
    """

    # Wider than the library's ``str``: null when the text is only in the text content.
    compressed: str | None = Field(  # type: ignore[assignment]
        description="the compressed text; null when it is large (over 256 KiB) and sent once, "
        "as the first compressed_chars characters of the text content"
    )
    compressed_chars: int | None = Field(
        default=None,
        description="set when compressed is null: the compressed text is "
        "content[0].text[:compressed_chars]",
    )
    files: list[FileCompression] = Field(default_factory=list)
    text_form: Literal["compressed", "original"] = Field(
        default="compressed",
        description="the text content holds the compressed text plus one line of figures, or the "
        "original unchanged when that would not have been shorter",
    )
    tokens_visible: int | None = Field(
        default=None, description="o200k_base tokens of the text content the model reads"
    )


class ValidationResult(BaseModel):
    """How much of the original the compressed text keeps."""

    tokens_original: int
    tokens_compressed: int
    ratio: float = Field(description="tokens_compressed / tokens_original (o200k_base)")
    facts_missing: list[str] = Field(
        description="numbers, dates, URLs, identifiers of the original absent from the compressed"
    )
    operators_missing: list[str] = Field(
        default_factory=list,
        description="negations, modals, conditions, comparisons or '?' the compressed has fewer of",
    )
    passed: bool = Field(
        default=True,
        description="False when a fact or operator is lost, or a model's answers disagree",
    )
    similarity: float | None = Field(
        default=None, description="MiniLM cosine similarity of the two texts"
    )
    cross_model: dict[str, Any] | None = Field(
        default=None, description="the cross-model validation report (answers compared per model)"
    )
    cross_model_available: bool = False
    notes: list[str] = Field(default_factory=list)


class MemoryRecord(BaseModel):
    """A memory as returned by the memory tools; ``text`` is the original or the compressed form."""

    id: str
    uri: str = Field(description="memory://<namespace>/<id>, readable as an MCP resource")
    namespace: str
    form: str = Field(description="'original' or 'compressed': which form ``text`` holds")
    text: str | None = None
    tokens_original: int
    tokens_compressed: int
    engine: str | None = None
    status: str | None = Field(
        default=None, description="memory_store only: created, existing, near_duplicate_skipped..."
    )
    notes: list[str] = Field(
        default_factory=list, description="memory_store only: what was merged into an existing one"
    )
    tags: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    user_id: str | None = None
    agent_id: str | None = None
    run_id: str | None = None


class MemoryHit(BaseModel):
    """One search hit: its compressed text (ready to inject) and its relevance score."""

    id: str
    uri: str
    score: float
    text: str
    tags: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)
    superseded_by: str | None = Field(
        default=None,
        description="a newer hit, nearly the same text but differing in a fact or operator, "
        "that may correct this one",
    )


class MemorySearchResult(BaseModel):
    hits: list[MemoryHit]
    tokens: int = Field(description="o200k tokens of all hit texts together")


class MemoryDeleteResult(BaseModel):
    id: str
    deleted: bool


class MemoryListResult(BaseModel):
    namespace: str
    items: list[MemoryRecord]
    next_cursor: str | None = Field(
        default=None, description="pass back as ``cursor`` for the next page"
    )


class AdapterInfo(BaseModel):
    """The adapter one kind serves (or wants to, while not loaded) and what is known about it."""

    kind: str
    name: str | None
    path: str | None
    source: str = Field(
        description="registry (promoted), configured (extractive_adapter setting), packaged "
        "(the built-in default) or none"
    )
    loaded: bool
    metrics: dict[str, Any] = Field(default_factory=dict, description="from its manifest")
    created_at: str | None = None
    last_swap: datetime | None = Field(
        default=None, description="when the adapter in service replaced the previous one"
    )
    swaps: int = Field(default=0, description="swaps since the server started")
    last_error: str | None = Field(
        default=None, description="the last failed load; the adapter in service was kept"
    )
    registry_active: str | None = Field(
        default=None,
        description="adapter the registry points to (none: the default serves; differs from "
        "name while a load fails)",
    )


class AdapterStatusResult(BaseModel):
    adapters: list[AdapterInfo]
    engines: list[str] = Field(description="engine names compress_context accepts")
    default_engine: str
    generation: int = Field(description="increments on every engine swap")
