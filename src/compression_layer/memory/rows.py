"""Rows of the ``memories`` table and the pending records written into it.

Kept apart from the store so the SQL column list, the row -> Memory mapping and the compression
step (which runs in a worker thread) can be read and tested on their own.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from compression_layer.errors import CompressionLayerError
from compression_layer.memory.types import Memory, StoreStatus
from compression_layer.memory.validate import sha256
from compression_layer.tokens import count_tokens

Compressor = Callable[[str], Any]
"""``(text) -> result`` with ``compressed``, ``engine``, ``domain`` and optionally ``adapter``,
``tokens_original``, ``tokens_compressed`` attributes (a ``CompressionResult`` fits)."""

COLUMNS = (
    "pk, id, namespace, content, compressed, engine, adapter, domain, tokens_original, "
    "tokens_compressed, content_hash, embed_hash, embed_model, tags, metadata, created_at, "
    "updated_at"
)


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

    def params(self, embed_model: str) -> tuple[Any, ...]:
        """Bound parameters for the INSERT, in COLUMNS order without pk."""
        return (
            self.id,
            self.namespace,
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
        )

    def to_memory(self) -> Memory:
        return Memory(
            id=self.id,
            namespace=self.namespace,
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
            status=self.status,
        )


INSERT_SQL = f"INSERT INTO memories ({COLUMNS.removeprefix('pk, ')}) VALUES ({', '.join('?' * 16)})"


def row_to_memory(row: Sequence[Any], status: StoreStatus | None = None) -> Memory:
    """A ``SELECT COLUMNS`` row as a Memory."""
    return Memory(
        id=row[1],
        namespace=row[2],
        content=row[3],
        compressed=row[4],
        engine=row[5],
        adapter=row[6],
        domain=row[7],
        tokens_original=row[8],
        tokens_compressed=row[9],
        content_hash=row[10],
        tags=json.loads(row[13]),
        metadata=json.loads(row[14]),
        created_at=row[15],
        updated_at=row[16],
        status=status,
    )


def apply_compression(item: Pending, compressor: Compressor | None) -> None:
    """Fill the compressed fields of ``item``; runs in a worker thread.

    A failing engine must not lose the memory: on a package error the original is stored as its
    own compressed form (engine ``none``). A "compression" that is not shorter is discarded too,
    so injecting ``compressed`` never costs more tokens than the original.
    """
    tokens = count_tokens(item.content)
    item.tokens_original = tokens
    item.compressed, item.engine, item.adapter, item.tokens_compressed = (
        item.content,
        "none",
        None,
        tokens,
    )
    if compressor is None:
        return
    try:
        result = compressor(item.content)
    except CompressionLayerError:
        return
    item.domain = str(getattr(result, "domain", item.domain) or item.domain)
    compressed = str(getattr(result, "compressed", "") or "")
    if not compressed.strip():
        return
    n = count_tokens(compressed)
    if n >= tokens:
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
