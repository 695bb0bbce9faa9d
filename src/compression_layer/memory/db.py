"""The memory database: one aiosqlite connection, its pragmas, its lock and its transactions.

Rows come back as ``sqlite3.Row`` and are read by column name everywhere, so a query's column
order is never a contract. The connection runs in autocommit mode (``isolation_level=None``):
every write is an explicit ``BEGIN IMMEDIATE`` ... ``COMMIT`` (see ``transaction``), which takes
SQLite's write lock up front and waits up to ``busy_timeout_ms`` for other processes.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from compression_layer.memory.errors import MemoryStoreError
from compression_layer.memory.migrations import migrate
from compression_layer.settings import MemorySettings

Row = sqlite3.Row


class Database:
    """An open memory database. ``lock`` serialises its use within one event loop.

    A connection has one transaction at a time, so every statement, read or write, runs under
    ``lock``; the slow work around it (compressing, embedding) runs outside it.
    """

    def __init__(self, conn: aiosqlite.Connection, path: Path) -> None:
        self._conn = conn
        self.path = path
        self.lock = asyncio.Lock()
        self._closed = False

    @classmethod
    async def open(cls, path: Path, settings: MemorySettings) -> Database:
        """Connect, set the pragmas and migrate; MemoryStoreError when that fails."""
        timeout_s = settings.busy_timeout_ms / 1000
        try:
            conn = await aiosqlite.connect(str(path), isolation_level=None, timeout=timeout_s)
        except Exception as exc:  # sqlite3 raises OperationalError for unopenable paths
            raise MemoryStoreError(f"cannot open memory database {path}: {exc}") from exc
        try:
            conn.row_factory = Row
            await conn.execute(f"PRAGMA busy_timeout = {int(settings.busy_timeout_ms)}")
            await conn.execute("PRAGMA journal_mode = WAL")
            await conn.execute("PRAGMA foreign_keys = ON")
            await conn.execute(f"PRAGMA synchronous = {settings.synchronous}")
            await migrate(conn)
        except Exception as exc:
            await conn.close()
            if isinstance(exc, MemoryStoreError):
                raise
            raise MemoryStoreError(f"cannot open memory database {path}: {exc}") from exc
        return cls(conn, path)

    async def close(self) -> None:
        self._closed = True
        await self._conn.close()

    def check_open(self) -> None:
        """MemoryStoreError once the database has been closed."""
        if self._closed:
            raise MemoryStoreError("the memory store is closed")

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        async with self._conn.execute(sql, params) as cur:
            return list(await cur.fetchall())

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        async with self._conn.execute(sql, params) as cur:
            row: Row | None = await cur.fetchone()
            return row

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        await self._conn.execute(sql, params)

    async def executemany(self, sql: str, params: Iterable[Sequence[Any]]) -> None:
        await self._conn.executemany(sql, params)

    async def data_version(self) -> int:
        """``PRAGMA data_version``: changes when another connection commits."""
        row = await self.fetchone("PRAGMA data_version")
        return int(row[0]) if row else 0

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back on any error; hold ``lock``."""
        await self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
            await self._conn.execute("COMMIT")
        except BaseException:
            if self._conn.in_transaction:
                await self._conn.execute("ROLLBACK")
            raise
