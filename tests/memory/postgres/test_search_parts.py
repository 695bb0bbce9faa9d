"""Postgres-only parts of search: the next-turn followers (hybrid lending) and BM25 over the
index."""

from __future__ import annotations

from compression_layer.memory import MemoryStore
from compression_layer.memory.filters import MemoryFilter
from compression_layer.memory.postgres.search import bm25, followers
from compression_layer.memory.postgres.store import PostgresMemoryStore
from compression_layer.settings import MemorySettings
from memory_fakes import FakeCompressor, FakeEmbedder


async def test_followers_skip_deleted_other_scopes_and_untagged(pg_url: str) -> None:
    settings = MemorySettings(near_duplicate_policy="keep")
    async with MemoryStore.open(
        pg_url, settings=settings, compressor=FakeCompressor(), embedder=FakeEmbedder()
    ) as opened:
        store = opened
        assert isinstance(store, PostgresMemoryStore)
        a, b, c, d = await store.store_many(
            [
                {"content": "first turn about Lisbon", "tags": ["t"]},
                {"content": "second turn, deleted later", "tags": ["t"]},
                {"content": "third turn, untagged"},
                {"content": "fourth turn about Porto", "tags": ["t"]},
            ]
        )
        other = await store.store("a turn of another user", user_id="zed")
        await store.delete(b.id)
        pks = {m.id: int(r["pk"]) for m in (a, c, d, other) for r in [await pk_of(store, m.id)]}
        found = await followers(store.pg, store.pg_vectors, "default", [pks[a.id]], [], None)
        assert found == {pks[a.id]: pks[c.id]}
        tagged = await followers(store.pg, store.pg_vectors, "default", [pks[a.id]], ["t"], None)
        assert tagged == {pks[a.id]: pks[d.id]}
        # The last memory of the scope has no follower; another scope's memory is not one.
        assert await followers(store.pg, store.pg_vectors, "default", [pks[d.id]], [], None) == {}
        zed = MemoryFilter(user_id="zed")
        assert await followers(store.pg, store.pg_vectors, "default", [pks[a.id]], [], zed) == {}


async def test_bm25_prefers_rare_words_and_short_memories(pg_url: str) -> None:
    settings = MemorySettings(near_duplicate_policy="keep")
    async with MemoryStore.open(
        pg_url, settings=settings, compressor=FakeCompressor(), embedder=FakeEmbedder()
    ) as opened:
        store = opened
        assert isinstance(store, PostgresMemoryStore)
        common = [f"team meeting notes number {i}" for i in range(20)]
        await store.store_many(common, compress=False)
        rare = await store.store("team offsite in Lisbon", compress=False)
        long = await store.store(
            "team offsite in Lisbon, with a long list of what everyone should pack and bring "
            "along, from chargers to umbrellas to walking shoes",
            compress=False,
        )
        hits = await bm25(store.pg, store.pg_vectors, "team offsite Lisbon", "default", 5, [])
        pks = [pk for pk, _ in hits]
        scores = [score for _, score in hits]
        assert scores == sorted(scores, reverse=True)
        assert pks[:2] == [int((await pk_of(store, m.id))["pk"]) for m in (rare, long)]
        assert await bm25(store.pg, store.pg_vectors, "the of and", "default", 5, []) == []


async def pk_of(store: PostgresMemoryStore, memory_id: str) -> dict[str, object]:
    row = await store.pg.fetchone("SELECT pk FROM memories WHERE id = %s", (memory_id,))
    assert row is not None
    return dict(row)
