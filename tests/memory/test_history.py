"""Every change kept as history; soft deletes, restore and purge; migration of a v3 database."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from compression_layer.memory import (
    MemoryConflictError,
    MemoryInputError,
    MemoryNotFoundError,
    MemoryStore,
)
from compression_layer.memory.errors import MemoryDeletedError
from compression_layer.memory.migrations import MIGRATIONS, SCHEMA_VERSION
from compression_layer.settings import MemorySettings
from memory_fakes import DIM, FakeCompressor, FakeEmbedder

TEXT = "The invoice run starts at 06:00 UTC on the first business day."


async def test_every_change_is_kept_with_old_and_new_values(store: MemoryStore) -> None:
    memory = await store.store(TEXT, tags=["billing"], metadata={"owner": "ana"})
    await store.store(TEXT, tags=["ops"])  # same content: the new tag is merged in
    await store.update(memory.id, content=TEXT.replace("06:00", "07:00"), actor="ana")
    await store.update(memory.id, tags=["billing"], metadata={"owner": "ben"}, actor="ben")
    await store.update(memory.id, scope={"user_id": "ana"})
    await store.update(memory.id, tags=["billing"])  # no change: no entry
    await store.delete(memory.id, actor="ana")
    await store.restore(memory.id, actor="ana")
    entries = await store.history(memory.id)
    assert [e.action for e in entries] == [
        "create",
        "merge",
        "update",
        "update",
        "update",
        "delete",
        "restore",
    ]
    assert [e.seq for e in entries] == sorted(e.seq for e in entries)
    create, merge, content, labels, scope, delete, restore = entries
    assert create.changes == {} and create.at == memory.created_at
    assert merge.changes == {"tags": {"old": ["billing"], "new": ["billing", "ops"]}}
    assert content.actor == "ana" and content.changes["content"] == {
        "old": TEXT,
        "new": TEXT.replace("06:00", "07:00"),
    }
    assert "compressed" in content.changes
    assert labels.actor == "ben" and labels.changes == {
        "tags": {"old": ["billing", "ops"], "new": ["billing"]},
        "metadata": {"old": {"owner": "ana"}, "new": {"owner": "ben"}},
    }
    assert scope.changes == {"user_id": {"old": None, "new": "ana"}}
    assert delete.changes["deleted_at"]["old"] is None and delete.actor == "ana"
    assert restore.changes["deleted_at"] == {
        "old": delete.changes["deleted_at"]["new"],
        "new": None,
    }
    assert (await store.get(memory.id)).metadata == {"owner": "ben"}


async def test_a_deleted_memory_leaves_every_read_until_restored(
    store: MemoryStore, db_path: Path
) -> None:
    memory = await store.store(TEXT, tags=["billing"])
    other = await store.store("The office closes early on Fridays.")
    await store.delete(memory.id)
    with pytest.raises(MemoryDeletedError, match=r"deleted at .*, restorable until") as caught:
        await store.get(memory.id)
    assert caught.value.restorable_until is not None
    assert (await store.get(memory.id, include_deleted=True)).deleted_at is not None
    assert [m.id for m in (await store.list()).items] == [other.id]
    assert all(h.id != memory.id for h in await store.search("invoice run business day"))
    assert await store.search("invoice", tags=["billing"]) == []
    with sqlite3.connect(db_path) as conn:  # not in the FTS index any more
        fts = conn.execute(
            "SELECT rowid FROM memories_fts WHERE memories_fts MATCH 'invoice'"
        ).fetchall()
        assert fts == []
    with pytest.raises(MemoryDeletedError):
        await store.update(memory.id, tags=["x"])
    with pytest.raises(MemoryInputError, match="is not deleted"):
        await store.restore(other.id)
    restored = await store.restore(memory.id)
    assert restored.deleted_at is None and restored.tags == ["billing"]
    hits = await store.search("invoice run", tags=["billing"])
    assert [h.id for h in hits] == [memory.id]
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        conn.execute("INSERT INTO memories_fts (memories_fts) VALUES ('integrity-check')")


async def test_restore_refuses_when_the_content_came_back_meanwhile(store: MemoryStore) -> None:
    memory = await store.store(TEXT)
    await store.delete(memory.id)
    again = await store.store(TEXT)  # a new memory: the deleted one holds no content slot
    assert again.id != memory.id and again.status == "created"
    with pytest.raises(MemoryConflictError, match=f"memory {again.id}"):
        await store.restore(memory.id)
    assert (await store.get(again.id)).content == TEXT


async def test_purge_after_the_configured_days(
    db_path: Path, fake_compressor: FakeCompressor, fake_embedder: FakeEmbedder
) -> None:
    def settings(days: float) -> MemorySettings:
        return MemorySettings(
            near_duplicate_policy="keep", synchronous="NORMAL", soft_delete_days=days
        )

    async with MemoryStore.open(
        db_path, settings=settings(30), compressor=fake_compressor, embedder=fake_embedder
    ) as store:
        kept = await store.store("kept")
        gone = await store.store("gone")
        ns = await store.store_many(["n1", "n2"], namespace="old")
        await store.delete(gone.id)
        assert await store.delete_namespace("old") == 2
        assert await store.purge() == 0  # deleted just now, 30 days to go
        assert (await store.stats()).deleted == 3
        with pytest.raises(MemoryInputError, match="older_than_days"):
            await store.purge(-1)
    # Opening with 0 days purges every deleted memory, with its history.
    async with MemoryStore.open(
        db_path, settings=settings(0), compressor=fake_compressor, embedder=fake_embedder
    ) as store:
        stats = await store.stats()
        assert stats.deleted == 0 and stats.memories == 1
        for memory_id in (gone.id, ns[0].id):
            with pytest.raises(MemoryNotFoundError, match="no memory with id"):
                await store.history(memory_id)
        assert [e.action for e in await store.history(kept.id)] == ["create"]


async def test_export_import_keep_deleted_memories_deleted(
    store: MemoryStore, tmp_path: Path
) -> None:
    live = await store.store("live one")
    dead = await store.store("dead one")
    await store.delete(dead.id)
    records = [r async for r in store.export()]
    assert {r["id"]: r["deleted_at"] is not None for r in records} == {
        live.id: False,
        dead.id: True,
    }
    assert [r["id"] async for r in store.export(include_deleted=False)] == [live.id]
    async with MemoryStore.open(
        tmp_path / "copy.sqlite3",
        settings=store.settings,
        compressor=FakeCompressor(),
        embedder=FakeEmbedder(),
    ) as copy:
        assert await copy.import_records(records) == {"created": 2, "existing": 0}
        with pytest.raises(MemoryDeletedError):
            await copy.get(dead.id)
        assert [m.id for m in (await copy.list()).items] == [live.id]
        assert [e.action for e in await copy.history(dead.id)] == ["import"]
        await copy.restore(dead.id)
        assert [h.id for h in await copy.search("dead one")][:1] == [dead.id]


def _v3_database(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        for version, script in enumerate(MIGRATIONS[:3]):
            conn.executescript(script)
            conn.execute(f"PRAGMA user_version = {version + 1}")
        conn.execute(
            "INSERT INTO embeddings (text_hash, model, dim, vector) VALUES ('h', 'fake-bow', ?, ?)",
            (DIM, FakeEmbedder()(["apples and pears"])[0].tobytes()),
        )
        for i, meta in enumerate(['{"n": 3, "due": "2024-05-01"}', '{"n": 9}', "{}"]):
            conn.execute(
                "INSERT INTO memories (id, namespace, content, compressed, engine, domain, "
                "tokens_original, tokens_compressed, content_hash, embed_hash, embed_model, tags, "
                "metadata, created_at, updated_at) VALUES (?, 'ns', ?, ?, 'fake', 'prose', 3, 2, "
                "?, 'h', 'fake-bow', '[\"fruit\"]', ?, ?, ?)",
                (f"mem_{i}", f"apples and pears {i}", "apples", f"c{i}", meta, f"t{i}", f"t{i}"),
            )
        conn.execute(
            "INSERT INTO memory_tags (namespace, tag, memory_pk) "
            "SELECT 'ns', 'fruit', pk FROM memories"
        )
        conn.execute("DELETE FROM memories WHERE id = 'mem_2'")  # AUTOINCREMENT mark stays at 3


async def test_migration_from_v3_keeps_rows_and_adds_scopes_history_and_meta(
    db_path: Path, memory_settings: MemorySettings
) -> None:
    _v3_database(db_path)
    async with MemoryStore.open(db_path, settings=memory_settings, embedder=FakeEmbedder()) as s:
        page = await s.list("ns")
        assert [(m.id, m.user_id, m.deleted_at) for m in page.items] == [
            ("mem_0", None, None),
            ("mem_1", None, None),
        ]
        for mode in ("bm25", "hybrid"):
            hits = await s.search("pears", namespace="ns", mode=mode, tags=["fruit"])  # type: ignore[arg-type]
            assert {h.id for h in hits} <= {"mem_0", "mem_1"} and hits
        due = await s.list("ns", filters={"due": {"lt": "2024-06-01"}, "n": {"in": [3, 4]}})
        assert [m.id for m in due.items] == ["mem_0"]
        assert [e.action for e in await s.history("mem_1")] == ["create"]
        new = await s.store("bananas", namespace="ns", compress=False)
        assert new.status == "created"
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 4
        pks = dict(conn.execute("SELECT id, pk FROM memories").fetchall())
        assert pks["mem_0"] == 1 and pks[new.id] == 4  # pks kept, none reused
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        conn.execute("INSERT INTO memories_fts (memories_fts) VALUES ('integrity-check')")
        tags = conn.execute("SELECT memory_pk FROM memory_tags ORDER BY memory_pk").fetchall()
        assert tags == [(1,), (2,)]


async def test_importing_a_backup_brings_back_a_deleted_memory(store: MemoryStore) -> None:
    memory = await store.store(TEXT, tags=["billing"])
    backup = [r async for r in store.export()]
    await store.delete(memory.id)
    assert await store.import_records(backup) == {"created": 1, "existing": 0}
    assert (await store.get(memory.id)).tags == ["billing"]
    assert [h.id for h in await store.search("invoice run", tags=["billing"])] == [memory.id]
    restore = (await store.history(memory.id))[-1]
    assert (restore.action, restore.actor) == ("restore", "import")
    assert await store.import_records(backup) == {"created": 0, "existing": 1}
    # Deleted, then the same content stored anew: the backup's copy stays deleted.
    await store.delete(memory.id)
    again = await store.store(TEXT)
    assert await store.import_records(backup) == {"created": 0, "existing": 1}
    assert [m.id for m in (await store.list()).items] == [again.id]
