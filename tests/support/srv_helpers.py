"""Helpers of the server tests: sample texts, a fake memory store, result accessors."""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp_types import CallToolResult

import compression_layer
from compression_layer.memory.errors import MemoryNotFoundError
from compression_layer.memory.filters import MemoryFilter, matches
from compression_layer.memory.types import Memory, MemoryPage, SearchHit
from compression_layer.server.state import ServerState
from compression_layer.settings import ServerSettings
from compression_layer.tokens import count_tokens

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

SAMPLE_SERVICE = Path(compression_layer.__file__).parent / "data" / "samples" / "sample_service.py"


def api_json() -> str:
    """A page of an orders API, pretty-printed as clients receive it."""
    orders = [
        {
            "id": f"ord_{4711 + i}",
            "status": ["paid", "shipped", "refunded"][i % 3],
            "created_at": f"2024-03-{10 + i:02d}T09:{i * 7:02d}:00Z",
            "customer": {"id": f"cus_{900 + i}", "name": name, "email": f"{name[0]}@example.com"},
            "items": [
                {"sku": f"SKU-{1000 + i * 13}", "quantity": 1 + i % 3, "unit_price": 4999},
                {"sku": f"SKU-{2000 + i * 7}", "quantity": 2, "unit_price": 1299},
            ],
            "total": {"amount": (1 + i % 3) * 4999 + 2598, "currency": "EUR"},
            "metadata": {"channel": ["web", "ios"][i % 2], "coupon": None},
        }
        for i, name in enumerate(["Alice Chen", "Bruno Silva", "Chiara Rossi", "Dmitri Ivanov"])
    ]
    return json.dumps({"object": "list", "has_more": False, "data": orders}, indent=2)


def service_log() -> str:
    """Request lines, health checks, retries and one error, as an application logs them."""
    lines = []
    for i in range(30):
        stamp = f"2024-05-14T09:12:{i * 2:02d}.{(i * 137) % 1000:03d}Z"
        if i % 5 == 0:
            lines.append(f"{stamp} DEBUG [health] GET /healthz 200 1ms")
        elif 12 <= i < 16:
            lines.append(
                f"{stamp} WARN  [payments] req_{i:04x} upstream timeout after 5000ms "
                f"(attempt {i - 11}/5), retrying in {2 ** (i - 12)}s"
            )
        elif i == 16:
            lines.append(f"{stamp} ERROR [payments] req_{i:04x} charge failed: PSPTimeout")
        else:
            lines.append(
                f"{stamp} INFO  [api] req_{i:04x} GET /v1/orders/ord_{4711 + i} 200 "
                f"{8 + i * 3}ms user=u_{1000 + i}"
            )
    return "\n".join(lines) + "\n"


def content_text(result: CallToolResult) -> str:
    """The text the model reads: every content block of the result (all must be text)."""
    assert all(block.type == "text" for block in result.content), result.content
    return "".join(block.text for block in result.content if block.type == "text")


def visible_tokens(result: CallToolResult) -> int:
    """o200k_base tokens of every text block the client received."""
    return sum(count_tokens(block.text) for block in result.content if block.type == "text")


def check_compress_result(result: CallToolResult, original: str) -> dict[str, Any]:
    """The compress_context contract: the compressed text plus one line of figures as the text,
    within 40 tokens of the engine's output and never above the original; the full object as
    structured content."""
    from compression_layer.server.models import CompressContextResult

    out = structured(result)
    CompressContextResult.model_validate(out)
    assert set(CompressContextResult.model_fields) <= set(out)
    assert len(result.content) == 1
    text = content_text(result)
    seen = visible_tokens(result)
    assert out["tokens_visible"] == seen
    assert seen <= out["tokens_compressed"] + 40, (seen, out["tokens_compressed"])
    assert seen <= out["tokens_original"], (seen, out["tokens_original"])
    if out["text_form"] == "original":
        assert text == original
        return out
    body, _, line = text.rpartition("\n")
    assert body == out["compressed"].rstrip("\n")
    assert line.startswith("[compressed ") and line.endswith("]"), line
    tokens = f"{out['tokens_original']}→{out['tokens_compressed']} tokens"
    assert tokens in line and out["engine"] in line
    return out


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
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
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
            user_id=user_id,
            agent_id=agent_id,
            run_id=run_id,
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
        **scope: Any,
    ) -> list[SearchHit]:
        flt = MemoryFilter.of(metadata=scope.pop("filters", None), **scope)
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
            if m.namespace == namespace
            and set(tags or ()) <= set(m.tags)
            and matches(flt, (m.user_id, m.agent_id, m.run_id), m.metadata)
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

    async def delete(self, memory_id: str, *, actor: str | None = None) -> Memory:
        if memory_id not in self.items:
            raise MemoryNotFoundError(memory_id)
        return self.items.pop(memory_id)

    async def list(
        self, namespace: str, limit: int = 20, cursor: str | None = None, **scope: Any
    ) -> MemoryPage:
        flt = MemoryFilter.of(metadata=scope.pop("filters", None), **scope)
        ordered = [
            m
            for m in self.items.values()
            if m.namespace == namespace
            and matches(flt, (m.user_id, m.agent_id, m.run_id), m.metadata)
        ]
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def running(server: MCPServer[ServerState], token: str | None, **settings: Any) -> Iterator[str]:
    """Serve ``server`` over streamable HTTP (``http_app``) on a free loopback port in a thread;
    yields the endpoint URL. ``settings``: ServerSettings fields (limits, max_sessions)."""
    import uvicorn

    from compression_layer.server.transports import http_app

    config_settings = ServerSettings(host="127.0.0.1", port=free_port(), **settings)
    config = uvicorn.Config(
        http_app(server, config_settings, token),
        host=config_settings.host,
        port=config_settings.port,
        log_level="warning",
        lifespan="on",
    )
    runner = uvicorn.Server(config)
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    started = threading.Event()
    for _ in range(600):  # bounded: at most ~60 s for the lifespan to finish
        if runner.started or not thread.is_alive():
            break
        started.wait(0.1)
    assert runner.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{config_settings.port}{config_settings.path}"
    finally:
        runner.should_exit = True
        thread.join(timeout=30)
