"""A memory about to be written: validation of what a caller gives, the compression step (run
in a worker thread), and how tags and metadata merge when two memories become one."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from compression_layer.errors import CompressionLayerError
from compression_layer.memory.errors import MemoryInputError
from compression_layer.memory.filters import NO_SCOPE, SCOPE_FIELDS, Scope, scope_of
from compression_layer.memory.types import Memory, StoreStatus
from compression_layer.memory.validate import (
    check_content,
    check_metadata,
    check_namespace,
    check_tags,
    sha256,
)
from compression_layer.tokens import count_tokens

Key = tuple[str, Scope, str]
"""(namespace, scope, content_hash)."""
Compressor = Callable[[str], Any]
"""``(text) -> result`` with ``compressed``, ``engine``, ``domain`` and optionally ``adapter``,
``tokens_original``, ``tokens_compressed``, ``notes`` attributes (a ``CompressionResult`` fits)."""

ITEM_KEYS = frozenset({"content", "namespace", "tags", "metadata", *SCOPE_FIELDS})


def now() -> str:
    """The current UTC time, ISO 8601 with microseconds (sorts as text)."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def new_id() -> str:
    """A random memory id: stable across export/import, unguessable, URL- and shell-safe."""
    return "mem_" + uuid.uuid4().hex


@dataclass
class Pending:
    """A memory about to be written (insert, or update of ``pk``)."""

    id: str
    namespace: str
    content: str
    content_hash: str
    tags: list[str]
    metadata_json: str
    compressed: str = ""
    engine: str = "none"
    adapter: str | None = None
    domain: str = "unknown"
    tokens_original: int = 0
    tokens_compressed: int = 0
    embed_hash: str = ""
    created_at: str = field(default_factory=now)
    updated_at: str = ""
    pk: int | None = None
    status: StoreStatus = "created"
    notes: list[str] = field(default_factory=list)
    scope: Scope = NO_SCOPE
    deleted_at: str | None = None

    @property
    def key(self) -> Key:
        """(namespace, scope, content_hash): what makes two memories the same content. Content
        is de-duplicated per namespace and scope: Alice and Bob may both remember one text."""
        return (self.namespace, self.scope, self.content_hash)

    def params(self, embed_model: str) -> tuple[Any, ...]:
        """Bound parameters for ``rows.INSERT_SQL``, in ``rows.COLUMNS`` order without pk."""
        return (
            self.id,
            self.namespace,
            *self.scope,
            self.content,
            self.compressed,
            self.engine,
            self.adapter,
            self.domain,
            self.tokens_original,
            self.tokens_compressed,
            self.content_hash,
            self.embed_hash,
            embed_model,
            json.dumps(self.tags, ensure_ascii=False),
            self.metadata_json,
            self.created_at,
            self.updated_at or self.created_at,
            self.deleted_at,
        )

    def to_memory(self) -> Memory:
        return Memory(
            id=self.id,
            namespace=self.namespace,
            user_id=self.scope[0],
            agent_id=self.scope[1],
            run_id=self.scope[2],
            content=self.content,
            compressed=self.compressed,
            engine=self.engine,
            adapter=self.adapter,
            domain=self.domain,
            tokens_original=self.tokens_original,
            tokens_compressed=self.tokens_compressed,
            content_hash=self.content_hash,
            tags=list(self.tags),
            metadata=json.loads(self.metadata_json),
            created_at=self.created_at,
            updated_at=self.updated_at or self.created_at,
            deleted_at=self.deleted_at,
            status=self.status,
            notes=list(self.notes),
        )


def make_pending(
    content: object,
    namespace: object,
    tags: Iterable[object] | None,
    metadata: Mapping[str, Any] | None,
    max_content_bytes: int,
    scope: Scope = NO_SCOPE,
) -> Pending:
    """A new memory from checked inputs; MemoryInputError names what is wrong."""
    text = check_content(content, max_content_bytes)
    return Pending(
        scope=scope,
        id=new_id(),
        namespace=check_namespace(namespace),
        content=text,
        content_hash=sha256(text),
        tags=check_tags(tags),
        metadata_json=check_metadata(metadata),
    )


def item_to_pending(
    item: str | Mapping[str, Any],
    namespace: str,
    tags: Iterable[str],
    metadata: Mapping[str, Any] | None,
    max_content_bytes: int,
    scope: Scope = NO_SCOPE,
) -> Pending:
    """One item of ``store_many``: a string, or a mapping overriding the defaults."""
    if isinstance(item, str):
        return make_pending(item, namespace, tags, metadata, max_content_bytes, scope)
    if not isinstance(item, Mapping):
        raise MemoryInputError(f"an item must be a string or a mapping, got {type(item).__name__}")
    unknown = set(item) - ITEM_KEYS
    if unknown:
        raise MemoryInputError(f"unknown item keys: {', '.join(sorted(map(str, unknown)))}")
    user_id, agent_id, run_id = (
        item.get(name, default) for name, default in zip(SCOPE_FIELDS, scope, strict=True)
    )
    return make_pending(
        item.get("content"),
        item.get("namespace", namespace),
        item.get("tags", tags),
        item.get("metadata", metadata),
        max_content_bytes,
        scope_of(user_id, agent_id, run_id),
    )


def apply_compression(item: Pending, compressor: Compressor | None) -> None:
    """Fill the compressed fields of ``item``; runs in a worker thread.

    A failing engine must not lose the memory: on a package error the original is stored as its
    own compressed form (engine ``none``). A "compression" that is not shorter is discarded too,
    so injecting ``compressed`` never costs more tokens than the original. When compression was
    asked for and did not happen for a reason the compressor gave (an error, or its notes, e.g.
    an engine that could not be loaded), ``item.notes`` says so.
    """
    tokens = hold_original(item)
    if compressor is None:
        return
    try:
        result = compressor(item.content)
    except CompressionLayerError as exc:
        result = exc
    apply_result(item, result, tokens)


def hold_original(item: Pending) -> int:
    """Make the original ``item``'s compressed form (engine ``none``); its o200k tokens."""
    tokens = count_tokens(item.content)
    item.tokens_original = tokens
    item.compressed, item.engine, item.adapter, item.tokens_compressed = (
        item.content,
        "none",
        None,
        tokens,
    )
    return tokens


def compress_items(items: Sequence[Pending], compressor: Compressor | None) -> None:
    """``apply_compression`` for each item; a compressor with a ``compress_many(texts)`` method
    (``compressing.DefaultCompressor``) gets the whole batch in one call."""
    many = getattr(compressor, "compress_many", None)
    if compressor is None or many is None or len(items) < 2:
        for item in items:
            apply_compression(item, compressor)
        return
    results = many([item.content for item in items])
    for item, result in zip(items, results, strict=True):
        apply_result(item, result, hold_original(item))


def apply_result(item: Pending, result: Any, tokens: int) -> None:
    """Fill the compressed fields of ``item`` (holding its original as compressed form, of
    ``tokens`` tokens) from a compressor's result, or the CompressionLayerError it raised."""
    if isinstance(result, CompressionLayerError):
        item.notes.append(f"stored uncompressed: {result}")
        return
    item.domain = str(getattr(result, "domain", item.domain) or item.domain)
    compressed = str(getattr(result, "compressed", "") or "")
    n = count_tokens(compressed) if compressed.strip() else tokens
    if n >= tokens:
        reasons = [str(r) for r in getattr(result, "notes", None) or []]
        if reasons:
            item.notes.append("stored uncompressed: " + "; ".join(reasons))
        return
    item.compressed, item.tokens_compressed = compressed, n
    item.engine = str(getattr(result, "engine", "unknown"))
    adapter = getattr(result, "adapter", None)
    item.adapter = str(adapter) if adapter else None


def embed_text(item: Pending, source: str) -> str:
    """The text whose vector represents ``item`` (``embed_source`` setting)."""
    return item.compressed if source == "compressed" else item.content


def set_embed_hash(item: Pending, source: str) -> str:
    text = embed_text(item, source)
    item.embed_hash = sha256(text)
    return text


def merge_labels(
    old_tags: list[str], old_meta: str, new_tags: list[str], new_meta: str
) -> tuple[list[str], str, list[str]]:
    """Tags (old first, then new ones) and metadata JSON (new keys win) of a merge, and notes
    saying what the new side added; no notes means nothing changed."""
    tags = old_tags + [t for t in new_tags if t not in old_tags]
    before, after = json.loads(old_meta), json.loads(new_meta)
    changed = [
        k
        for k, v in after.items()
        if k not in before or json.dumps(before[k], sort_keys=True) != json.dumps(v, sort_keys=True)
    ]
    notes: list[str] = []
    if len(tags) > len(old_tags):
        notes.append("tags added: " + ", ".join(tags[len(old_tags) :]))
    if changed:
        notes.append("metadata keys set: " + ", ".join(changed))
    merged = json.dumps({**before, **after}, ensure_ascii=False) if changed else old_meta
    return tags, merged, notes


def absorb_labels(target: Pending, p: Pending) -> list[str]:
    """Merge ``p``'s tags and metadata into ``target`` (about to be written); the notes."""
    target.tags, target.metadata_json, notes = merge_labels(
        target.tags, target.metadata_json, p.tags, p.metadata_json
    )
    return notes


def merge_into(
    new: Pending,
    old_id: str,
    old_pk: int | None,
    old_created: str,
    old_tags: list[str],
    old_meta: str,
    status: StoreStatus,
) -> None:
    """``new`` replaces an older memory: it keeps the old id, pk and creation time, and merges
    tags (old first) and metadata (new keys win), so an update never silently drops labels."""
    new.id, new.pk, new.created_at, new.status = old_id, old_pk, old_created, status
    new.tags, new.metadata_json, _ = merge_labels(old_tags, old_meta, new.tags, new.metadata_json)
    new.updated_at = now()
