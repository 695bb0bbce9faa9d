"""Scopes beside the namespace: who sees what, de-duplication per scope, listing, moving a memory
between scopes, export/import, and the FTS scope tokens."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from compression_layer.memory import MemoryConflictError, MemoryStore
from compression_layer.memory.filters import MemoryFilter, fts_scope_match
from compression_layer.settings import MemorySettings
from memory_fakes import FakeCompressor, FakeEmbedder

TEXT = "The staging database password rotates every Monday morning."


async def _ids(store: MemoryStore, **kwargs: object) -> set[str]:
    hits = await store.search("database password rotates", k=50, **kwargs)  # type: ignore[arg-type]
    return {h.id for h in hits}


async def test_a_caller_sees_its_own_scope_unless_it_asks_for_all(store: MemoryStore) -> None:
    plain = await store.store(TEXT)
    alice = await store.store(TEXT, user_id="alice")
    alice_run = await store.store(TEXT, user_id="alice", agent_id="bot", run_id="r1")
    bob = await store.store(TEXT, user_id="bob")
    # The same content in four scopes is four memories; again in one scope is the same one.
    assert len({plain.id, alice.id, alice_run.id, bob.id}) == 4
    again = await store.store(TEXT, user_id="alice", tags=["ops"])
    assert again.id == alice.id and again.status == "existing"
    assert (alice.user_id, alice.agent_id, alice.run_id) == ("alice", None, None)

    assert await _ids(store) == {plain.id}
    assert await _ids(store, user_id="alice") == {alice.id}
    assert await _ids(store, user_id="alice", agent_id="bot", run_id="r1") == {alice_run.id}
    assert await _ids(store, user_id="carol") == set()
    assert await _ids(store, user_id="alice", all_scopes=True) == {alice.id, alice_run.id}
    assert await _ids(store, run_id="r1", all_scopes=True) == {alice_run.id}
    assert await _ids(store, all_scopes=True) == {plain.id, alice.id, alice_run.id, bob.id}
    hits = await store.search("password", user_id="bob")
    assert [(h.id, h.user_id) for h in hits] == [(bob.id, "bob")]

    assert [m.id for m in (await store.list()).items] == [plain.id]
    listed = await store.list(user_id="alice", all_scopes=True)
    assert [m.id for m in listed.items] == [alice.id, alice_run.id]
    assert [m.id for m in (await store.list(all_scopes=True, limit=2)).items] == [
        plain.id,
        alice.id,
    ]


async def test_namespaces_and_scopes_are_listed_with_counts(store: MemoryStore) -> None:
    await store.store_many(["one", "two"], namespace="a")
    await store.store_many(["one", "two", "three"], namespace="b", user_id="u1")
    await store.store("one", namespace="b", user_id="u1", run_id="r9")
    gone = await store.store("four", namespace="b")
    await store.delete(gone.id)
    names = [(n.namespace, n.memories) for n in await store.list_namespaces()]
    assert names == [("a", 2), ("b", 4)]
    scopes = [(s.user_id, s.agent_id, s.run_id, s.memories) for s in await store.list_scopes("b")]
    assert scopes == [("u1", None, None, 3), ("u1", None, "r9", 1)]
    stats = await store.stats("b", user_id="u1")
    assert stats.memories == 4 and stats.deleted == 1
    assert (await store.stats("b", run_id="r9")).memories == 1


async def test_near_duplicates_are_looked_for_within_the_scope(
    db_path: Path, fake_compressor: FakeCompressor, fake_embedder: FakeEmbedder
) -> None:
    settings = MemorySettings(near_duplicate_policy="skip", synchronous="NORMAL")
    async with MemoryStore.open(
        db_path, settings=settings, compressor=fake_compressor, embedder=fake_embedder
    ) as store:
        first = await store.store("Deploys happen on Tuesday afternoon", user_id="alice")
        # The same words reordered: a near-duplicate in Alice's scope, a new memory in Bob's.
        twin = await store.store("Deploys happen on Tuesday afternoon!", user_id="alice")
        assert twin.id == first.id and twin.status == "near_duplicate_skipped"
        other = await store.store("Deploys happen on Tuesday afternoon!", user_id="bob")
        assert other.status == "created" and other.user_id == "bob"


async def test_a_memory_moves_between_scopes(store: MemoryStore) -> None:
    memory = await store.store(TEXT, user_id="alice", run_id="r1")
    moved = await store.update(memory.id, scope={"run_id": None}, actor="tester")
    assert (moved.user_id, moved.run_id) == ("alice", None)
    assert await _ids(store, user_id="alice") == {memory.id}
    assert await _ids(store, user_id="alice", run_id="r1") == set()
    # Its content is already in Bob's scope: moving there would make a duplicate.
    await store.store(TEXT, user_id="bob")
    with pytest.raises(MemoryConflictError, match="already has this content"):
        await store.update(memory.id, scope={"user_id": "bob"})
    assert (await store.get(memory.id)).user_id == "alice"  # nothing changed


async def test_export_and_import_keep_scopes(store: MemoryStore, tmp_path: Path) -> None:
    a = await store.store(TEXT, user_id="alice", agent_id="bot", metadata={"n": 1})
    b = await store.store(TEXT, user_id="bob")
    records = [r async for r in store.export()]
    assert {(r["id"], r["user_id"], r["agent_id"]) for r in records} == {
        (a.id, "alice", "bot"),
        (b.id, "bob", None),
    }
    async with MemoryStore.open(
        tmp_path / "copy.sqlite3",
        settings=store.settings,
        compressor=FakeCompressor(),
        embedder=FakeEmbedder(),
    ) as copy:
        assert await copy.import_records(records) == {"created": 2, "existing": 0}
        assert await copy.import_records(records) == {"created": 0, "existing": 2}
        got = await copy.get(a.id)
        assert (got.user_id, got.agent_id, got.metadata) == ("alice", "bot", {"n": 1})
        assert await _ids(copy, user_id="bob") == {b.id}
        listed = await copy.list(user_id="alice", agent_id="bot", filters={"n": 1})
        assert [m.id for m in listed.items] == [a.id]


async def test_fts_scope_tokens_select_the_scope_from_the_index(
    store: MemoryStore, db_path: Path
) -> None:
    plain = await store.store("rotation schedule")
    alice = await store.store("rotation schedule", user_id="alice", run_id="r1")
    cases = [
        (MemoryFilter(), {plain.id}),
        (MemoryFilter(user_id="alice", run_id="r1"), {alice.id}),
        (MemoryFilter(user_id="alice"), set()),
        (MemoryFilter(user_id="alice", all_scopes=True), {alice.id}),
        (MemoryFilter(run_id="r1", all_scopes=True), {alice.id}),
        (MemoryFilter(all_scopes=True), {plain.id, alice.id}),
    ]
    with sqlite3.connect(db_path) as conn:
        for flt, want in cases:
            rows = conn.execute(
                "SELECT m.id FROM memories_fts f JOIN memories m ON m.pk = f.rowid "
                "WHERE memories_fts MATCH ?",
                (f'{fts_scope_match(flt, "default")} AND "rotation"',),
            ).fetchall()
            assert {r[0] for r in rows} == want, flt
