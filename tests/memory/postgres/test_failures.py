"""Postgres unreachable at start, and lost during operation (the real server stopped mid-run)."""

from __future__ import annotations

import pytest

from compression_layer.memory import MemoryStore
from compression_layer.memory.errors import MemoryStoreError, MemoryUnavailableError
from compression_layer.memory.postgres import redact_url
from compression_layer.settings import MemorySettings
from memory_fakes import FakeCompressor, FakeEmbedder
from pg_local import LocalPostgres, free_port

SECRET = "s3cr3t-Passw0rd"


def settings(**extra: object) -> MemorySettings:
    return MemorySettings(
        near_duplicate_policy="keep",
        busy_timeout_ms=1500,
        **extra,  # type: ignore[arg-type]
    )


def test_redact_url_masks_passwords() -> None:
    shown = redact_url(f"postgresql://bob:{SECRET}@db:5432/mem")
    assert shown == "postgresql://bob:***@db:5432/mem"
    assert redact_url("postgresql://bob@db/mem") == "postgresql://bob@db/mem"
    shown = redact_url(f"postgres://db/mem?sslmode=require&password={SECRET}")
    assert SECRET not in shown and "sslmode=require" in shown


async def test_unreachable_at_start_names_the_url_without_password() -> None:
    url = f"postgresql://bob:{SECRET}@127.0.0.1:{free_port()}/memories"
    with pytest.raises(MemoryUnavailableError) as caught:
        async with MemoryStore.open(
            url, settings=settings(), compressor=FakeCompressor(), embedder=FakeEmbedder()
        ):
            pass
    message = str(caught.value)
    assert f"postgresql://bob:***@127.0.0.1:{url.rsplit(':', 1)[1]}" in message
    assert SECRET not in message and SECRET not in repr(caught.value)
    assert caught.value.retryable


async def test_db_url_setting_chooses_postgres(pg_url: str) -> None:
    async with MemoryStore.open(
        settings=settings(db_url=pg_url), compressor=FakeCompressor(), embedder=FakeEmbedder()
    ) as store:
        memory = await store.store("chosen by the db_url setting")
        assert (await store.stats()).db_path.startswith("postgresql://")
        assert (await store.get(memory.id)).content == "chosen by the db_url setting"


async def test_server_lost_mid_run_nothing_acknowledged_lost(
    pg_server: LocalPostgres, pg_url: str
) -> None:
    async with MemoryStore.open(
        pg_url, settings=settings(), compressor=FakeCompressor(), embedder=FakeEmbedder()
    ) as store:
        acked = [m.id for m in await store.store_many([f"fact number {i}" for i in range(20)])]
        pg_server.crash()  # as a power cut: no clean shutdown
        try:
            with pytest.raises(MemoryUnavailableError, match="unavailable") as caught:
                await store.store("written while the server is down")
            assert caught.value.retryable and isinstance(caught.value, MemoryStoreError)
            with pytest.raises(MemoryUnavailableError):
                await store.search("fact number 3")
            with pytest.raises(MemoryUnavailableError):
                await store.get(acked[0])
        finally:
            pg_server.start()
        # The same store object recovers once the server is back (pool connections replaced);
        # a client retries a retryable error, here a bounded number of times.
        for _ in range(40):  # each try waits at most busy_timeout_ms (1.5 s)
            try:
                await store.get(acked[0])
                break
            except MemoryUnavailableError:
                continue
        for memory_id in acked:
            assert (await store.get(memory_id)).id == memory_id
        retried = await store.store("written while the server is down")
        assert retried.status == "created"
        again = await store.store("written while the server is down")
        assert again.status == "existing" and again.id == retried.id
        assert (await store.stats()).memories == 21
        hits = await store.search("fact number 3", k=3, mode="bm25")
        assert "fact number 3" in [h.content for h in hits]
