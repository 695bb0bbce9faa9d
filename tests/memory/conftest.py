"""Fixtures of the memory tests: a store on a temp file with fake compressor and embedder."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from compression_layer.memory import MemoryStore
from compression_layer.settings import MemorySettings
from memory_fakes import FakeCompressor, FakeEmbedder


@pytest.fixture
def fake_compressor() -> FakeCompressor:
    return FakeCompressor()


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "mem.sqlite3"


@pytest.fixture
def memory_settings() -> MemorySettings:
    return MemorySettings(near_duplicate_policy="keep", synchronous="NORMAL")


@pytest.fixture
async def store(
    db_path: Path,
    memory_settings: MemorySettings,
    fake_compressor: FakeCompressor,
    fake_embedder: FakeEmbedder,
) -> AsyncIterator[MemoryStore]:
    async with MemoryStore.open(
        db_path, settings=memory_settings, compressor=fake_compressor, embedder=fake_embedder
    ) as opened:
        yield opened
