"""Two stores (two connection pools, as two processes) writing one Postgres at once: content is
stored once per namespace and scope, and both callers get the same memory back."""

from __future__ import annotations

import asyncio

from compression_layer.memory import MemoryStore
from compression_layer.settings import MemorySettings
from memory_fakes import FakeCompressor, FakeEmbedder


async def test_concurrent_writers_store_each_content_once(pg_url: str) -> None:
    settings = MemorySettings(near_duplicate_policy="keep")
    texts = [f"shared fact number {i} about the rollout" for i in range(40)]
    async with (
        MemoryStore.open(
            pg_url, settings=settings, compressor=FakeCompressor(), embedder=FakeEmbedder()
        ) as one,
        MemoryStore.open(
            pg_url, settings=settings, compressor=FakeCompressor(), embedder=FakeEmbedder()
        ) as two,
    ):
        batches = await asyncio.gather(
            one.store_many(texts),
            two.store_many(list(reversed(texts))),
            *(one.store(t) for t in texts[:10]),
            *(two.store(t, user_id="u1") for t in texts[:5]),
        )
        first, second = batches[0], batches[1]
        assert [m.id for m in first] == [m.id for m in reversed(second)]
        assert {m.status for m in [*first, *second]} <= {"created", "existing"}
        stats = await one.stats()
        assert stats.memories == 45  # 40 unscoped + 5 in user u1's scope
        assert len({m.id for m in first}) == 40
