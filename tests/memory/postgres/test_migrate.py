"""``compression-layer memory migrate --to postgresql://...``: SQLite -> Postgres, verified,
idempotent, vectors copied rather than recomputed."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from compression_layer.cli import memory as cli
from compression_layer.cli import memory_migrate
from compression_layer.memory import MemoryStore
from compression_layer.settings import MemorySettings
from memory_fakes import FakeCompressor, FakeEmbedder

runner = CliRunner()


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> FakeEmbedder:
    embedder = FakeEmbedder()
    for options in (cli.STORE_OPTIONS, memory_migrate.STORE_OPTIONS):
        monkeypatch.setitem(options, "compressor", FakeCompressor())
        monkeypatch.setitem(options, "embedder", embedder)
    return embedder


SETTINGS = MemorySettings(near_duplicate_policy="keep")


async def fill(source: Path, embedder: FakeEmbedder) -> list[dict[str, Any]]:
    async with MemoryStore.open(
        source, settings=SETTINGS, compressor=FakeCompressor(), embedder=embedder
    ) as store:
        await store.store_many([f"migrated fact number {i} about Berlin" for i in range(30)])
        await store.store_many(
            [{"content": "ops rotate the deploy key", "tags": ["ops"], "metadata": {"n": 1}}],
            namespace="ops",
        )
        return [r async for r in store.export()]


async def read_back(url: str, embedder: FakeEmbedder) -> tuple[list[dict[str, Any]], Any]:
    async with MemoryStore.open(
        url, settings=SETTINGS, compressor=FakeCompressor(), embedder=embedder
    ) as target:
        hits = await target.search("deploy key rotate", namespace="ops", k=1)
        return [r async for r in target.export()], hits[0]


def test_migrate_copies_verifies_and_is_idempotent(
    tmp_path: Path, pg_url: str, fakes: FakeEmbedder
) -> None:
    source = tmp_path / "mem.sqlite3"
    exported = asyncio.run(fill(source, fakes))
    embedded_before = len(fakes.embedded)

    first = runner.invoke(cli.app, ["migrate", "--db", str(source), "--to", pg_url, "--json"])
    assert first.exit_code == 0, first.output
    report = json.loads(first.stdout)
    assert report["verified"] and report["memories"] == 31 and report["created"] == 31
    assert report["namespaces"] == {"default": 30, "ops": 1}
    assert report["vectors_copied"] == 31 and report["vectors_computed"] == 0
    assert len(fakes.embedded) == embedded_before  # nothing re-embedded

    again = runner.invoke(cli.app, ["migrate", "--db", str(source), "--to", pg_url, "--json"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["existing"] == 31

    back, hit = asyncio.run(read_back(pg_url, fakes))
    assert back == exported
    assert hit.tags == ["ops"] and hit.metadata == {"n": 1}


def test_migrate_refuses_a_non_postgres_target(tmp_path: Path) -> None:
    result = runner.invoke(cli.app, ["migrate", "--to", str(tmp_path / "x.sqlite3")])
    assert result.exit_code == 2 and "postgresql://" in result.output


def test_migrate_to_unreachable_server_says_so_without_password(tmp_path: Path) -> None:
    from pg_local import free_port

    source = tmp_path / "mem.sqlite3"
    source.write_bytes(b"")
    url = f"postgresql://bob:hunter2@127.0.0.1:{free_port()}/mem"
    result = runner.invoke(cli.app, ["migrate", "--db", str(source), "--to", url])
    assert result.exit_code == 2
    assert "hunter2" not in result.output
