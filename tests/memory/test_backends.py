"""One API, two backends: the same tests against SQLite (embedded default) and Postgres +
pgvector (a real server started by the ``pg_server`` fixture; never skipped in CI)."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from compression_layer.memory import (
    MemoryConflictError,
    MemoryInputError,
    MemoryNotFoundError,
    MemoryStore,
)
from compression_layer.memory.postgres.store import PostgresMemoryStore
from compression_layer.settings import MemorySettings
from memory_fakes import FakeCompressor, FakeEmbedder

BACKENDS = ["sqlite", "postgres"]
TEXT = "Quarterly revenue in Berlin rose by 12 percent while costs stayed flat."


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def location(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str | Path:
    if backend == "postgres":
        return str(request.getfixturevalue("pg_url"))
    return tmp_path / "mem.sqlite3"


def open_store(
    location: str | Path, policy: str = "keep", embedder: FakeEmbedder | None = None
) -> AsyncIterator[MemoryStore]:
    settings = MemorySettings(near_duplicate_policy=policy, synchronous="NORMAL")  # type: ignore[arg-type]
    return MemoryStore.open(  # type: ignore[return-value]
        location,
        settings=settings,
        compressor=FakeCompressor(),
        embedder=embedder or FakeEmbedder(),
    )


@pytest.fixture
async def store(location: str | Path) -> AsyncIterator[MemoryStore]:
    async with open_store(location) as opened:  # type: ignore[attr-defined]
        yield opened


def test_postgres_store_has_every_public_method_of_memory_store() -> None:
    """One facade: PostgresMemoryStore is MemoryStore over the Postgres backend, adding parts of
    that backend but overriding no method of the API."""
    assert issubclass(PostgresMemoryStore, MemoryStore)
    for name, member in inspect.getmembers(MemoryStore):
        if name.startswith("_") or not callable(member) or name == "open":
            continue
        assert hasattr(PostgresMemoryStore, name), f"PostgresMemoryStore lacks {name}"
        mine = getattr(PostgresMemoryStore, name)
        assert inspect.signature(mine) == inspect.signature(member), name
        assert name not in vars(PostgresMemoryStore), f"PostgresMemoryStore overrides {name}"


async def test_opened_by_url(store: MemoryStore, backend: str) -> None:
    assert isinstance(store, PostgresMemoryStore) == (backend == "postgres")
    stats = await store.stats()
    assert stats.memories == 0 and stats.schema_version >= 1


async def test_store_get_and_exact_dedup(store: MemoryStore) -> None:
    first = await store.store(TEXT, tags=["finance"], metadata={"q": 4})
    assert first.status == "created" and first.compressed != TEXT
    assert first.tokens_compressed < first.tokens_original
    again = await store.store(TEXT, tags=["berlin"], metadata={"src": "call"})
    assert again.status == "existing" and again.id == first.id
    assert again.tags == ["finance", "berlin"] and again.metadata == {"q": 4, "src": "call"}
    got = await store.get(first.id)
    assert got.content == TEXT and got.tags == ["finance", "berlin"]
    assert got.content_hash == first.content_hash and got.created_at == first.created_at
    other_ns = await store.store(TEXT, namespace="elsewhere")
    assert other_ns.status == "created" and other_ns.id != first.id
    stats = await store.stats()
    assert stats.memories == 2 and stats.namespaces == {"default": 1, "elsewhere": 1}
    assert stats.embeddings == 1  # one text, one vector


async def test_store_many_batch_statuses(store: MemoryStore) -> None:
    out = await store.store_many(
        ["alpha beta gamma", {"content": "delta epsilon", "tags": ["t"]}, "alpha beta gamma"],
        namespace="n",
    )
    assert [m.status for m in out] == ["created", "created", "existing"]
    assert out[0].id == out[2].id and out[1].tags == ["t"]
    with pytest.raises(MemoryInputError):
        await store.store_many(["fine", ""], namespace="n")
    assert (await store.stats("n")).memories == 2


async def test_list_with_cursor_and_namespaces(store: MemoryStore) -> None:
    stored = await store.store_many([f"memory number {i}" for i in range(5)], namespace="p")
    await store.store("elsewhere", namespace="q")
    seen: list[str] = []
    cursor = None
    while True:
        page = await store.list("p", limit=2, cursor=cursor)
        seen += [m.id for m in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == [m.id for m in stored]
    assert len((await store.list(None, limit=100)).items) == 6
    with pytest.raises(MemoryInputError):
        await store.list("p", cursor="not-a-cursor")


async def test_search_modes_and_tags(store: MemoryStore) -> None:
    a = await store.store(TEXT, tags=["finance"])
    b = await store.store("The cat sleeps on the warm windowsill every afternoon.", tags=["pets"])
    await store.store("Deploy keys rotate every ninety days.", namespace="ops")
    for mode in ("hybrid", "dense", "bm25"):
        hits = await store.search("Berlin revenue rose", k=5, mode=mode)  # type: ignore[arg-type]
        assert hits and hits[0].id == a.id, mode
        assert all(h.namespace == "default" for h in hits)
    hits = await store.search("cat windowsill", k=5)
    assert hits[0].id == b.id and hits[0].dense_rank == 1 and hits[0].bm25_rank == 1
    assert [h.id for h in await store.search("revenue", tags=["pets"])] == [b.id] or all(
        h.id == b.id for h in await store.search("revenue", tags=["pets"])
    )
    assert await store.search("revenue", tags=["nobody"]) == []
    assert await store.search("zzzz qqqq", mode="bm25") == []
    budget = await store.search("Berlin revenue cat", k=5, max_tokens=a.tokens_compressed)
    assert sum(h.tokens_compressed for h in budget) <= a.tokens_compressed
    with pytest.raises(MemoryInputError):
        await store.search("x", mode="fuzzy")  # type: ignore[arg-type]


async def test_update_content_tags_and_conflict(store: MemoryStore) -> None:
    memory = await store.store(TEXT, tags=["a"])
    new_text = "Berlin revenue fell sharply in the fourth quarter of the year."
    updated = await store.update(memory.id, content=new_text, metadata={"v": 2})
    assert updated.id == memory.id and updated.content == new_text
    assert updated.tags == ["a"] and updated.metadata == {"v": 2}
    assert updated.created_at == memory.created_at and updated.updated_at > memory.updated_at
    hits = await store.search("fell sharply fourth quarter", k=1)
    assert hits[0].id == memory.id and hits[0].content == new_text
    relabelled = await store.update(memory.id, tags=["b", "c"])
    assert relabelled.tags == ["b", "c"]
    assert [h.id for h in await store.search("revenue", tags=["c"])] == [memory.id]
    other = await store.store("second memory text")
    with pytest.raises(MemoryConflictError):
        await store.update(other.id, content=new_text)
    assert (await store.get(other.id)).content == "second memory text"
    with pytest.raises(MemoryNotFoundError):
        await store.update("mem_unknown", tags=["x"])


async def test_delete_and_delete_namespace(store: MemoryStore) -> None:
    memory = await store.store(TEXT)
    deleted = await store.delete(memory.id)
    assert deleted.id == memory.id and deleted.deleted_at is not None
    for call in (store.get, store.delete):  # soft-deleted: restorable, invisible
        with pytest.raises(MemoryNotFoundError, match=r"was deleted at .*restorable until"):
            await call(memory.id)
    with pytest.raises(MemoryNotFoundError, match="no memory with id"):
        await store.get("mem_never_stored")
    assert await store.search("revenue Berlin") == []
    assert (await store.list(None)).items == []
    await store.store_many(["one thing", "two things"], namespace="gone")
    kept = await store.store("three things", namespace="kept")
    assert await store.delete_namespace("gone") == 2
    assert await store.delete_namespace("gone") == 0
    stats = await store.stats()
    assert stats.namespaces == {"kept": 1}
    assert [h.id for h in await store.search("things", namespace="kept")] == [kept.id]


async def test_near_duplicate_skip_merges_labels(location: str | Path) -> None:
    async with open_store(location, policy="skip") as store:  # type: ignore[attr-defined]
        first = await store.store("the meeting is on monday morning", tags=["a"])
        near = await store.store("The meeting is on Monday morning!", tags=["b"])
        assert near.status == "near_duplicate_skipped" and near.id == first.id
        assert (await store.get(first.id)).tags == ["a", "b"]
        other = await store.store("the meeting is not on monday morning")
        assert other.status == "created"  # a negation is a correction, never a duplicate


async def test_export_import_round_trip_across_backends(
    store: MemoryStore, tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    await store.store_many(
        [
            {"content": TEXT, "tags": ["x"], "metadata": {"n": 1, "s": "é"}},
            {"content": "second memory", "namespace": "other"},
        ]
    )
    exported = [r async for r in store.export()]
    assert len(exported) == 2
    # Into the other backend and back: ids, times, compressed text kept exactly.
    target = (
        tmp_path / "other.sqlite3" if backend == "postgres" else request.getfixturevalue("pg_url")
    )
    async with open_store(target) as other:  # type: ignore[attr-defined]
        assert await other.import_records(exported) == {"created": 2, "existing": 0}
        assert await other.import_records(exported) == {"created": 0, "existing": 2}
        back = [r async for r in other.export()]
        assert back == exported
        hits = await other.search("Berlin revenue", k=1)
        assert hits[0].id == exported[0]["id"]
    clash = {**exported[1], "id": exported[0]["id"]}
    with pytest.raises(MemoryConflictError):
        await store.import_records([clash])


async def test_scopes_filters_and_listing(store: MemoryStore) -> None:
    alice = await store.store("Alice prefers window seats", user_id="alice", metadata={"n": 3})
    bob = await store.store("Bob prefers aisle seats", user_id="bob", metadata={"n": 7})
    shared = await store.store("The office opens at 9 on weekdays", metadata={"when": "2024-05-01"})
    same_text = await store.store("Alice prefers window seats", user_id="bob")
    assert same_text.status == "created" and same_text.id != alice.id  # dedup is per scope
    assert [m.id for m in (await store.list("default")).items] == [shared.id]
    mine = await store.list("default", user_id="alice")
    assert [m.id for m in mine.items] == [alice.id] and mine.items[0].user_id == "alice"
    everyone = await store.list("default", all_scopes=True)
    assert {m.id for m in everyone.items} == {alice.id, bob.id, shared.id, same_text.id}
    ranged = await store.list("default", all_scopes=True, filters={"n": {"gte": 5}})
    assert [m.id for m in ranged.items] == [bob.id]
    dated = await store.list("default", filters={"when": {"lt": "2024-06-01T00:00:00Z"}})
    assert [m.id for m in dated.items] == [shared.id]
    hits = await store.search("seats", user_id="alice", min_score=0)
    assert [h.id for h in hits] == [alice.id] and hits[0].user_id == "alice"
    hits = await store.search("seats", all_scopes=True, filters={"n": {"in": [3, 7]}}, min_score=0)
    assert {h.id for h in hits} == {alice.id, bob.id}
    with pytest.raises(MemoryInputError, match="metadata key"):
        await store.search("seats", all_scopes=True, filters={"colour": "red"})
    with pytest.raises(MemoryInputError, match="unknown filter operator"):
        await store.list("default", filters={"n": {"near": 3}})
    namespaces = await store.list_namespaces()
    assert [(c.namespace, c.memories) for c in namespaces] == [("default", 4)]
    scopes = {(c.user_id, c.memories) for c in await store.list_scopes("default")}
    assert scopes == {(None, 1), ("alice", 1), ("bob", 2)}
    stats = await store.stats("default", user_id="bob")
    assert stats.memories == 2


async def test_a_range_on_a_list_value_needs_one_element_within_all_bounds(
    store: MemoryStore,
) -> None:
    """Both backends group the bounds of a range on one key (filters.condition_groups): 1 and
    20 each pass one bound of [5, 10), neither passes both."""
    await store.store("Scores far apart", metadata={"scores": [1, 20]})
    inside = await store.store("A score inside the range", metadata={"scores": [1, 7]})
    page = await store.list("default", filters={"scores": {"gte": 5, "lt": 10}})
    assert [m.id for m in page.items] == [inside.id]
    hits = await store.search("score", filters={"scores": {"gte": 5, "lt": 10}}, min_score=0)
    assert [h.id for h in hits] == [inside.id]


async def test_update_history_restore_and_purge(store: MemoryStore) -> None:
    memory = await store.store("The deploy window is Tuesday", tags=["ops"])
    await store.update(memory.id, metadata={"owner": "sam"}, actor="sam")
    moved = await store.update(memory.id, scope={"user_id": "sam"}, actor="sam")
    assert moved.user_id == "sam"
    await store.delete(memory.id, actor="kim")
    restored = await store.restore(memory.id, actor="kim")
    assert restored.deleted_at is None and restored.metadata == {"owner": "sam"}
    history = await store.history(memory.id)
    assert [h.action for h in history] == ["create", "update", "update", "delete", "restore"]
    assert history[1].changes == {"metadata": {"old": {}, "new": {"owner": "sam"}}}
    assert history[2].changes == {"user_id": {"old": None, "new": "sam"}}
    assert [h.actor for h in history[1:]] == ["sam", "sam", "kim", "kim"]
    with pytest.raises(MemoryInputError, match="not deleted"):
        await store.restore(memory.id)
    await store.delete(memory.id)
    assert (await store.get(memory.id, include_deleted=True)).deleted_at is not None
    exported = [r async for r in store.export()]
    assert exported[0]["deleted_at"] is not None  # deleted rows travel with export
    assert await store.purge(older_than_days=0) == 1
    with pytest.raises(MemoryNotFoundError, match="no memory with id"):
        await store.get(memory.id, include_deleted=True)
    with pytest.raises(MemoryNotFoundError):
        await store.history(memory.id)


async def test_importing_a_backup_brings_back_a_deleted_memory_on_both(store: MemoryStore) -> None:
    memory = await store.store(TEXT, tags=["billing"], compress=False)
    backup = [r async for r in store.export()]
    await store.delete(memory.id)
    assert await store.import_records(backup) == {"created": 1, "existing": 0}
    assert (await store.get(memory.id)).tags == ["billing"]
    restore = (await store.history(memory.id))[-1]
    assert (restore.action, restore.actor) == ("restore", "import")
    assert await store.import_records(backup) == {"created": 0, "existing": 1}
    # Deleted, then the same content stored anew: the backup's copy stays deleted.
    await store.delete(memory.id)
    again = await store.store(TEXT, compress=False)
    assert await store.import_records(backup) == {"created": 0, "existing": 1}
    assert [m.id for m in (await store.list()).items] == [again.id]
