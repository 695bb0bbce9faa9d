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


async def postings_as_derived(store: PostgresMemoryStore) -> tuple[list[tuple[object, ...]], ...]:
    """``memory_terms`` as the triggers keep it, and as it should be: every distinct lexeme of
    every live memory, with its namespace, scope and length."""
    cols = "namespace, term, pk, doc_len, user_id, agent_id, run_id"
    kept = await store.pg.fetchall(f"SELECT {cols} FROM memory_terms ORDER BY {cols}")
    derived = await store.pg.fetchall(
        f"SELECT {cols} FROM (SELECT m.namespace, t AS term, m.pk, m.doc_len, m.user_id, "
        "m.agent_id, m.run_id FROM memories m, unnest(tsvector_to_array(m.fts)) AS t "
        f"WHERE m.deleted_at IS NULL) AS d ORDER BY {cols}"
    )
    return [tuple(r.values()) for r in kept], [tuple(r.values()) for r in derived]


async def test_postings_follow_every_change_and_match_the_gin_path(pg_url: str) -> None:
    settings = MemorySettings(near_duplicate_policy="keep")
    async with MemoryStore.open(
        pg_url, settings=settings, compressor=FakeCompressor(), embedder=FakeEmbedder()
    ) as opened:
        store = opened
        assert isinstance(store, PostgresMemoryStore)
        words = ["lisbon", "porto", "trip", "budget", "train", "e-mail", "hotel", "museum"]
        texts = [
            f"{words[i % 8]} {words[(i * 3) % 8]} plan {i} with {words[(i * 5 + 1) % 8]} notes"
            for i in range(40)
        ]
        mems = await store.store_many(texts, compress=False)
        await store.store_many(
            [{"content": "lisbon trip for zed", "tags": ["museum"]}], user_id="zed"
        )
        await store.store("porto budget in another namespace", namespace="other")
        kept, derived = await postings_as_derived(store)
        assert kept == derived and len(kept) > 40 * 4
        gone = {await pk_int(store, m.id) for m in (mems[3], mems[5])}
        # Content edits, scope moves, soft deletes, restores, purges, namespace deletes.
        await store.update(mems[0].id, content="a museum visit in Porto by train")
        await store.update(mems[1].id, scope={"user_id": "zed"})
        await store.update(mems[2].id, tags=["hotel", "budget"])
        await store.delete(mems[3].id)
        await store.delete(mems[4].id)
        await store.restore(mems[4].id)
        await store.delete(mems[5].id)
        await store.purge(older_than_days=0)
        await store.delete_namespace("other")
        kept, derived = await postings_as_derived(store)
        assert kept == derived
        assert gone and not [r for r in kept if r[2] in gone]
        # The posting path gives the GIN path's list and scores, for every scope rule.
        queries = ["Lisbon trip budget", "e-mail about the hotel", "museum Porto train plan 7"]
        filters = [None, MemoryFilter(user_id="zed"), MemoryFilter(all_scopes=True)]
        for query in queries:
            for flt in filters:
                fast = await bm25(store.pg, store.pg_vectors, query, "default", 30, [], flt)
                slow = await bm25(
                    store.pg, store.pg_vectors, query, "default", 30, [], flt, postings=False
                )
                assert fast, (query, flt)
                # The same list; memories of exactly equal scores (same words, same length) may
                # come in either order, the sums being added in another order.
                assert by_score(fast) == by_score(slow), (query, flt)


async def pk_int(store: PostgresMemoryStore, memory_id: str) -> int:
    return int((await pk_of(store, memory_id))["pk"])  # type: ignore[call-overload]


async def test_migration_4_fills_the_posting_table_of_an_existing_database(pg_url: str) -> None:
    settings = MemorySettings(near_duplicate_policy="keep")
    opened = MemoryStore.open(
        pg_url, settings=settings, compressor=FakeCompressor(), embedder=FakeEmbedder()
    )
    async with opened as store:
        assert isinstance(store, PostgresMemoryStore)
        mems = await store.store_many(
            [f"trip {i} to Lisbon with {i % 3} friends" for i in range(12)], compress=False
        )
        await store.delete(mems[0].id)
        # Back to a version 3 database: no posting table, no triggers.
        async with store.pg.connection() as conn:
            await conn.execute(
                "DROP TABLE memory_terms; DROP FUNCTION memory_terms_sync() CASCADE; "
                "UPDATE memory_schema_version SET version = 3"
            )
    async with MemoryStore.open(
        pg_url, settings=settings, compressor=FakeCompressor(), embedder=FakeEmbedder()
    ) as reopened:
        store = reopened
        assert isinstance(store, PostgresMemoryStore)
        kept, derived = await postings_as_derived(store)
        assert kept == derived and len(kept) >= 11 * 3
        hits = await bm25(store.pg, store.pg_vectors, "Lisbon trip", "default", 20, [])
        assert len(hits) == 11


def by_score(hits: list[tuple[int, float]]) -> list[tuple[float, int]]:
    return sorted((-round(score, 9), pk) for pk, score in hits)
