"""List cursors across namespaces on Postgres: pks are taken when a row is inserted but become
visible when its transaction commits, so a writer of one namespace can commit a smaller pk after
a writer of another namespace committed a larger one. A page read in between must not hand out a
cursor past the smaller pk (the row would never be listed)."""

from __future__ import annotations

import asyncio

import psycopg

from compression_layer.memory import MemoryStore
from compression_layer.memory.postgres.rows import WRITERS_LOCK
from compression_layer.memory.postgres.store import PostgresMemoryStore
from compression_layer.settings import MemorySettings
from memory_fakes import FakeCompressor, FakeEmbedder

HOLD = 4242  # advisory lock the test holds to keep one writer inside its insert


async def waiting_on_advisory(conn: psycopg.AsyncConnection, key: int) -> bool:
    """Whether some session waits for the advisory lock ``key`` (a bigint key: objid low half)."""
    cur = await conn.execute(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
        "AND ((classid::bigint << 32) | objid::bigint) = %s",
        (key,),
    )
    row = await cur.fetchone()
    return bool(row and row[0])


async def until_waiting(conn: psycopg.AsyncConnection, key: int) -> bool:
    for _ in range(300):
        if await waiting_on_advisory(conn, key):
            return True
        await asyncio.sleep(0.02)
    return False


async def test_a_cursor_never_skips_a_row_committed_late_in_another_namespace(
    pg_url: str,
) -> None:
    settings = MemorySettings(near_duplicate_policy="keep")
    async with (
        MemoryStore.open(
            pg_url, settings=settings, compressor=FakeCompressor(), embedder=FakeEmbedder()
        ) as opened,
        await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as hold,
    ):
        store = opened
        assert isinstance(store, PostgresMemoryStore)
        # The writer of 'late' stops inside its INSERT (its pk taken) until the test lets go.
        await hold.execute(
            "CREATE FUNCTION hold_late() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"PERFORM pg_advisory_xact_lock_shared({HOLD}); RETURN NULL; END $$"
        )
        await hold.execute(
            "CREATE TRIGGER hold_late AFTER INSERT ON memories FOR EACH ROW "
            "WHEN (NEW.content = 'the late one') EXECUTE FUNCTION hold_late()"
        )
        await hold.execute("SELECT pg_advisory_lock(%s)", (HOLD,))
        late = asyncio.create_task(store.store("the late one", namespace="a", compress=False))
        assert await until_waiting(hold, HOLD)
        # Two rows of another namespace commit meanwhile, with larger pks.
        early = await store.store_many(["first of b", "second of b"], namespace="b")
        page_task = asyncio.create_task(store.list(namespace=None, limit=1))
        # The wide list waits for the writer in flight (rows.wait_for_writers).
        assert await until_waiting(hold, WRITERS_LOCK)
        await hold.execute("SELECT pg_advisory_unlock(%s)", (HOLD,))
        stored = await late
        seen = []
        page = await page_task
        seen += [m.id for m in page.items]
        while page.next_cursor is not None:
            page = await store.list(namespace=None, limit=1, cursor=page.next_cursor)
            seen += [m.id for m in page.items]
        assert seen == [stored.id, early[0].id, early[1].id]
        # Lists of one namespace do not wait (its writers are serialised): pages as before.
        assert [m.id for m in (await store.list(namespace="b")).items] == [m.id for m in early]

        # An export across namespaces pages by pk too, and waits the same way.
        await hold.execute(
            "CREATE OR REPLACE TRIGGER hold_late AFTER INSERT ON memories FOR EACH ROW "
            "WHEN (NEW.content = 'another late one') EXECUTE FUNCTION hold_late()"
        )
        await hold.execute("SELECT pg_advisory_lock(%s)", (HOLD,))
        late2 = asyncio.create_task(store.store("another late one", namespace="a"))
        assert await until_waiting(hold, HOLD)
        third = await store.store("third of b", namespace="b")

        async def exported() -> list[str]:
            return [str(record["id"]) async for record in store.export()]

        export_task = asyncio.create_task(exported())
        assert await until_waiting(hold, WRITERS_LOCK)
        await hold.execute("SELECT pg_advisory_unlock(%s)", (HOLD,))
        stored2 = await late2
        assert await export_task == [*seen, stored2.id, third.id]
