"""Store, get, update, delete, list, stats and de-duplication, with fake compressor and embedder."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from types import SimpleNamespace

import pytest

from compression_layer.memory import (
    MemoryConflictError,
    MemoryNotFoundError,
    MemoryStore,
    MemoryStoreError,
)
from compression_layer.memory.migrations import SCHEMA_VERSION
from compression_layer.settings import MemorySettings
from memory_fakes import FakeCompressor, FakeEmbedder

TEXT = "The quarterly revenue in Berlin grew by twelve percent after the new pricing launched."


async def test_store_keeps_original_and_compressed(store: MemoryStore) -> None:
    meta = {"source": "call", "n": 3, "nested": {"a": [1, 2.5, None, True]}}
    memory = await store.store(TEXT, namespace="proj", tags=["finance", "q3"], metadata=meta)
    assert memory.status == "created"
    assert memory.content == TEXT
    assert memory.engine == "fake"
    assert memory.tokens_compressed < memory.tokens_original
    got = await store.get(memory.id)
    assert got.content == TEXT and got.compressed == memory.compressed
    assert got.metadata == meta and got.tags == ["finance", "q3"]
    assert got.created_at == got.updated_at == memory.created_at
    assert got.status is None


async def test_compress_false_stores_the_original_twice(store: MemoryStore) -> None:
    memory = await store.store(TEXT, compress=False)
    assert memory.compressed == TEXT and memory.engine == "none"
    assert memory.tokens_compressed == memory.tokens_original


async def test_same_content_returns_existing_and_is_not_reembedded(
    store: MemoryStore, fake_embedder: FakeEmbedder, fake_compressor: FakeCompressor
) -> None:
    first = await store.store(TEXT, namespace="a")
    again = await store.store(TEXT, namespace="a", tags=["other"])
    assert again.id == first.id and again.status == "existing"
    other_ns = await store.store(TEXT, namespace="b")
    assert other_ns.id != first.id and other_ns.status == "created"
    # One embedding serves both namespaces: the text hash keys the vector.
    assert fake_embedder.embedded == [TEXT]
    assert len(fake_compressor.calls) == 2
    stats = await store.stats()
    assert stats.memories == 2 and stats.embeddings == 1


async def test_store_many_dedupes_within_the_batch(store: MemoryStore) -> None:
    out = await store.store_many(
        ["alpha beta gamma", "delta epsilon", "alpha beta gamma"], namespace="n"
    )
    assert [m.status for m in out] == ["created", "created", "existing"]
    assert out[0].id == out[2].id
    assert (await store.stats("n")).memories == 2


async def test_store_many_mapping_items_override_defaults(store: MemoryStore) -> None:
    out = await store.store_many(
        ["plain one", {"content": "special two", "namespace": "x", "tags": ["t"]}],
        namespace="y",
        tags=["default"],
    )
    assert (out[0].namespace, out[0].tags) == ("y", ["default"])
    assert (out[1].namespace, out[1].tags) == ("x", ["t"])


async def test_update_content_recompresses_and_keeps_id(store: MemoryStore) -> None:
    memory = await store.store(TEXT, tags=["a"])
    new_text = "Berlin revenue fell sharply in the fourth quarter of the year."
    updated = await store.update(memory.id, content=new_text, metadata={"v": 2})
    assert updated.id == memory.id and updated.content == new_text
    assert updated.tags == ["a"] and updated.metadata == {"v": 2}
    assert updated.created_at == memory.created_at and updated.updated_at > memory.updated_at
    hits = await store.search("fell sharply fourth quarter", k=1)
    assert hits[0].id == memory.id and hits[0].content == new_text


async def test_update_to_content_of_another_memory_conflicts(store: MemoryStore) -> None:
    a = await store.store("first memory text")
    await store.store("second memory text")
    with pytest.raises(MemoryConflictError):
        await store.update(a.id, content="second memory text")
    assert (await store.get(a.id)).content == "first memory text"


async def test_update_tags_only(store: MemoryStore) -> None:
    memory = await store.store(TEXT, tags=["a"])
    updated = await store.update(memory.id, tags=["b", "c"])
    assert updated.tags == ["b", "c"] and updated.content == TEXT
    assert [h.id for h in await store.search("revenue", tags=["c"])] == [memory.id]
    assert await store.search("revenue", tags=["a"]) == []


async def test_delete_and_unknown_ids(store: MemoryStore) -> None:
    memory = await store.store(TEXT)
    deleted = await store.delete(memory.id)
    assert deleted.id == memory.id and deleted.deleted_at is not None
    # A soft delete: reads say when it went and until when it can be restored.
    for call in (store.get, store.delete):
        with pytest.raises(MemoryNotFoundError, match=r"was deleted at .*restorable until"):
            await call(memory.id)
    for call in (store.get, store.delete, store.restore, store.history):
        with pytest.raises(MemoryNotFoundError, match="no memory with id"):
            await call("mem_unknown")
    with pytest.raises(MemoryNotFoundError):
        await store.update("mem_unknown", tags=["x"])
    stats = await store.stats()
    assert stats.memories == 0 and stats.deleted == 1 and stats.embeddings == 1
    assert await store.purge(0) == 1
    stats = await store.stats()
    assert stats.deleted == 0 and stats.embeddings == 0  # the orphan vector went too
    with pytest.raises(MemoryNotFoundError, match="no memory with id"):
        await store.get(memory.id)


async def test_delete_namespace(store: MemoryStore) -> None:
    await store.store_many(["one thing", "two things"], namespace="gone")
    kept = await store.store("three things", namespace="kept")
    assert await store.delete_namespace("gone") == 2
    assert await store.delete_namespace("gone") == 0
    stats = await store.stats()
    assert stats.namespaces == {"kept": 1}
    assert [h.id for h in await store.search("things", namespace="kept")] == [kept.id]


async def test_list_pages_in_insertion_order(store: MemoryStore) -> None:
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


async def test_stats_counts_tokens_saved(store: MemoryStore) -> None:
    a = await store.store(TEXT, namespace="s")
    b = await store.store("short", namespace="s")
    stats = await store.stats("s")
    assert stats.tokens_original == a.tokens_original + b.tokens_original
    assert stats.tokens_saved == stats.tokens_original - stats.tokens_compressed > 0
    assert stats.schema_version == SCHEMA_VERSION


async def test_compressor_failure_keeps_the_original(
    db_path: Path, memory_settings: MemorySettings, fake_embedder: FakeEmbedder
) -> None:
    from compression_layer.errors import EngineError

    def broken(text: str) -> object:
        raise EngineError("engine down")

    async with MemoryStore.open(
        db_path, settings=memory_settings, compressor=broken, embedder=fake_embedder
    ) as store:
        memory = await store.store(TEXT)
    assert memory.compressed == TEXT and memory.engine == "none"
    assert memory.notes == ["stored uncompressed: engine down"]


async def test_uncompressed_note_gives_the_compressors_reason(
    db_path: Path, memory_settings: MemorySettings, fake_embedder: FakeEmbedder
) -> None:
    """An engine that could not load falls back (pipeline notes); the memory says why."""
    reason = "extractive engine unavailable, used structural: no such file"

    def fallback(text: str) -> object:
        return SimpleNamespace(compressed=text, engine="structural", domain="prose", notes=[reason])

    async with MemoryStore.open(
        db_path, settings=memory_settings, compressor=fallback, embedder=fake_embedder
    ) as store:
        memory = await store.store(TEXT)
        plain = await store.store("Another memory entirely.", compress=False)
    assert memory.engine == "none" and memory.notes == [f"stored uncompressed: {reason}"]
    assert plain.notes == []  # not asked to compress: nothing to explain


async def test_first_store_compresses_before_embedding(
    db_path: Path, memory_settings: MemorySettings
) -> None:
    """The first compression and embedding load models and import libraries whose imports are
    not thread-safe (transformers), so they run one after the other once."""
    events: list[str] = []
    compressor, embedder = FakeCompressor(), FakeEmbedder()

    def compress(text: str) -> object:
        events.append("compress")
        return compressor(text)

    def embed(texts: list[str]) -> object:
        events.append("embed")
        return embedder(texts)

    async with MemoryStore.open(
        db_path, settings=memory_settings, compressor=compress, embedder=embed
    ) as store:
        await store.store_many([TEXT, "A second memory of the first batch."])
        assert events == ["compress", "compress", "embed"]
        await store.store("A later memory, compressed and embedded side by side.")
    assert sorted(events[3:]) == ["compress", "embed"]


async def test_reopen_keeps_data_and_pragmas(
    db_path: Path, memory_settings: MemorySettings, fake_embedder: FakeEmbedder
) -> None:
    async with MemoryStore.open(db_path, settings=memory_settings, embedder=fake_embedder) as s:
        memory = await s.store(TEXT, compress=False)
    async with MemoryStore.open(db_path, settings=memory_settings, embedder=fake_embedder) as s:
        assert (await s.get(memory.id)).content == TEXT
        assert [h.id for h in await s.search("Berlin revenue")] == [memory.id]
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


async def test_newer_schema_is_refused(db_path: Path, memory_settings: MemorySettings) -> None:
    with sqlite3.connect(db_path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(MemoryStoreError, match="newer"):
        async with MemoryStore.open(db_path, settings=memory_settings, embedder=FakeEmbedder()):
            pass


async def test_closed_store_refuses_writes_and_reads(
    db_path: Path, memory_settings: MemorySettings, fake_embedder: FakeEmbedder
) -> None:
    async with MemoryStore.open(db_path, settings=memory_settings, embedder=fake_embedder) as s:
        pass
    with pytest.raises(MemoryStoreError, match="closed"):
        await s.store(TEXT)
    for read in (s.get("m" * 8), s.list(), s.stats(), s.search("anything")):
        with pytest.raises(MemoryStoreError, match="closed"):
            await read
    with pytest.raises(MemoryStoreError, match="closed"):
        async for _ in s.export():
            pass


async def test_default_path_is_under_the_data_dir(
    _isolated_home: Path, fake_embedder: FakeEmbedder
) -> None:
    async with MemoryStore.open(embedder=fake_embedder) as s:
        assert s.path == _isolated_home / "memory.sqlite3"


async def test_migration_from_v1_keeps_rows_tags_and_indexes_them(
    db_path: Path, memory_settings: MemorySettings
) -> None:
    from compression_layer.memory.migrations import MIGRATIONS, _split

    vec = FakeEmbedder()(["apples and pears"])[0].astype("float32")
    with sqlite3.connect(db_path) as conn:
        for statement in _split(MIGRATIONS[0]):
            conn.execute(statement)
        conn.execute("PRAGMA user_version = 1")
        conn.execute(
            "INSERT INTO embeddings VALUES ('h', 'fake-bow', ?, ?)", (len(vec), vec.tobytes())
        )
        conn.execute(
            "INSERT INTO memories (id, namespace, content, compressed, engine, domain, "
            "tokens_original, tokens_compressed, content_hash, embed_hash, embed_model, tags, "
            "metadata, created_at, updated_at) VALUES ('mem_old', 'ns', 'apples and pears', "
            "'apples pears', 'fake', 'prose', 3, 2, 'c', 'h', 'fake-bow', '[\"fruit\", "
            "\"green\"]', '{}', 't', 't')"
        )
        # v1 kept tags in two places; the JSON column is what v3 rebuilds the tag index from.
        conn.execute("INSERT INTO memory_tags (memory_pk, tag) VALUES (1, 'fruit')")
    async with MemoryStore.open(db_path, settings=memory_settings, embedder=FakeEmbedder()) as s:
        for mode in ("bm25", "dense", "hybrid"):
            hits = await s.search("pears", namespace="ns", mode=mode)  # type: ignore[arg-type]
            assert [h.id for h in hits] == ["mem_old"]
            tagged = await s.search("pears", namespace="ns", mode=mode, tags=["green", "fruit"])  # type: ignore[arg-type]
            assert [h.id for h in tagged] == ["mem_old"]
        assert await s.search("pears", namespace="other", mode="bm25") == []
        assert await s.search("pears", namespace="ns", tags=["fruit", "red"]) == []
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 4
        tag_rows = conn.execute("SELECT namespace, tag, memory_pk FROM memory_tags ORDER BY tag")
        assert tag_rows.fetchall() == [("ns", "fruit", 1), ("ns", "green", 1)]
