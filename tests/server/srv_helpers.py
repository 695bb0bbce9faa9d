"""Helpers of the server tests: sample texts, a fake memory store, result accessors."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mcp_types import CallToolResult

from compression_layer.memory.errors import MemoryNotFoundError
from compression_layer.memory.types import Memory, MemoryPage, SearchHit
from compression_layer.settings import ServerSettings

PROSE = (
    "The quarterly review meeting took place on 14 March 2024 in Berlin. Revenue grew by 12.5% "
    "to $4.2 million, driven mainly by the new subscription tier that launched in January. "
    "The team agreed that the migration to the new billing system must be finished before the "
    "end of June, and Alice Chen will own the rollout plan. Support tickets dropped by a third "
    "after the documentation rewrite, which everybody considered a very good result overall."
)
CODE = '''def total(items):
    """Sum the prices of the items."""
    # walk every item and add its price
    result = 0
    for item in items:
        result += item.price
    return result
'''


class FakeMemoryStore:
    """The MemoryStore contract in a dict: enough to test the tools without SQLite or MiniLM."""

    def __init__(self) -> None:
        self.items: dict[str, Memory] = {}

    async def store(
        self,
        content: str,
        *,
        namespace: str = "default",
        tags: tuple[str, ...] = (),
        metadata: dict[str, Any] | None = None,
        compress: bool = True,
    ) -> Memory:
        now = datetime.now(UTC).isoformat()
        compressed = " ".join(content.split()[::2]) if compress else content
        memory = Memory(
            id=uuid.uuid4().hex,
            namespace=namespace,
            content=content,
            compressed=compressed,
            engine="fake" if compress else "none",
            domain="prose",
            tokens_original=len(content.split()),
            tokens_compressed=len(compressed.split()),
            content_hash=hashlib.sha256(content.encode("utf-8")).hexdigest(),
            tags=list(tags),
            metadata=metadata or {},
            created_at=now,
            updated_at=now,
            status="created",
        )
        self.items[memory.id] = memory
        return memory

    async def search(
        self,
        query: str,
        *,
        namespace: str,
        k: int = 10,
        tags: list[str] | None = None,
        max_tokens: int | None = None,
    ) -> list[SearchHit]:
        words = set(query.lower().split())
        hits = [
            SearchHit(
                id=m.id,
                namespace=m.namespace,
                score=len(words & set(m.content.lower().split())) / max(len(words), 1),
                compressed=m.compressed,
                content=m.content,
                metadata=m.metadata,
                tags=m.tags,
                tokens_original=m.tokens_original,
                tokens_compressed=m.tokens_compressed,
            )
            for m in self.items.values()
            if m.namespace == namespace and set(tags or ()) <= set(m.tags)
        ]
        hits = sorted((h for h in hits if h.score > 0), key=lambda h: -h.score)[:k]
        if max_tokens is not None:
            kept, used = [], 0
            for hit in hits:
                if used + hit.tokens_compressed > max_tokens:
                    break
                kept.append(hit)
                used += hit.tokens_compressed
            hits = kept
        return hits

    async def get(self, memory_id: str) -> Memory:
        if memory_id not in self.items:
            raise MemoryNotFoundError(memory_id)
        return self.items[memory_id]

    async def delete(self, memory_id: str) -> Memory:
        if memory_id not in self.items:
            raise MemoryNotFoundError(memory_id)
        return self.items.pop(memory_id)

    async def list(self, namespace: str, limit: int = 20, cursor: str | None = None) -> MemoryPage:
        ordered = [m for m in self.items.values() if m.namespace == namespace]
        start = int(cursor or 0)
        page = ordered[start : start + limit]
        more = start + limit < len(ordered)
        return MemoryPage(items=page, next_cursor=str(start + limit) if more else None)


def server_settings(root: Path, **overrides: Any) -> ServerSettings:
    return ServerSettings(roots=[root], max_text_bytes=overrides.pop("max_text_bytes", 20_000))


def error_text(result: CallToolResult) -> str:
    """The message of an ``isError`` tool result (fails the test if it is not one)."""
    assert result.is_error, f"expected an error result, got {result.structured_content}"
    first = result.content[0]
    assert first.type == "text"
    return first.text


def structured(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return result.structured_content
