"""The memory database: a writing connection with its lock and transactions, and a few reading
connections.

Rows come back as ``sqlite3.Row`` and are read by column name everywhere, so a query's column
order is never a contract. Connections run in autocommit mode (``isolation_level=None``): every
write is an explicit ``BEGIN IMMEDIATE`` ... ``COMMIT`` (see ``transaction``), which takes
SQLite's write lock up front and waits up to ``busy_timeout_ms`` for other processes.

Reads that need no write state (``get``, ``list``, ``stats``, the SQL of a search) run on reading
connections (``reading``): under WAL they see the last commit, never wait for the writer, and each
runs on its own thread, so a ``get`` is not queued behind a search or behind a write that waits
for another process.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Protocol

import aiosqlite

from compression_layer.memory.errors import MemoryStoreError
from compression_layer.memory.migrations import migrate
from compression_layer.settings import MemorySettings

Row = sqlite3.Row

MAX_READERS = 4
"""Reading connections opened at most (lazily, one thread each); a read beyond waits for one."""


class Queries(Protocol):
    """What read helpers need: a writing ``Database`` (under its lock) or a ``Reader``."""

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None: ...


class Reader:
    """A read-only connection (``PRAGMA query_only``); one statement at a time per reader."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    @classmethod
    async def open(cls, path: Path, busy_timeout_ms: int) -> Reader:
        conn = await aiosqlite.connect(
            str(path), isolation_level=None, timeout=busy_timeout_ms / 1000
        )
        try:
            conn.row_factory = Row
            await conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            await conn.execute("PRAGMA query_only = ON")
        except BaseException:
            await conn.close()
            raise
        return cls(conn)

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        async with self._conn.execute(sql, params) as cur:
            return list(await cur.fetchall())

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        async with self._conn.execute(sql, params) as cur:
            row: Row | None = await cur.fetchone()
            return row

    async def close(self) -> None:
        await self._conn.close()


class Database:
    """An open memory database. ``lock`` serialises use of the writing connection within one
    event loop; ``reading()`` lends a reading connection, which needs no lock.

    The writing connection has one transaction at a time, so every statement on it, read or
    write, runs under ``lock``; the slow work around it (compressing, embedding) runs outside it.
    """

    def __init__(self, conn: aiosqlite.Connection, path: Path, busy_timeout_ms: int) -> None:
        self._conn = conn
        self.path = path
        self.lock = asyncio.Lock()
        self._closed = False
        self._busy_timeout_ms = busy_timeout_ms
        self._readers: list[Reader] = []
        self._opening = 0
        self._idle: asyncio.Queue[Reader] = asyncio.Queue()

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
        return cls(conn, path, int(settings.busy_timeout_ms))

    async def close(self) -> None:
        self._closed = True
        readers, self._readers = self._readers, []
        for reader in readers:
            await reader.close()
        await self._conn.close()

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[Reader]:
        """A reading connection for the duration of the block (opened on first need)."""
        self.check_open()
        if self._idle.empty() and len(self._readers) + self._opening < MAX_READERS:
            self._opening += 1
            try:
                reader = await Reader.open(self.path, self._busy_timeout_ms)
            except Exception as exc:
                raise MemoryStoreError(f"cannot open memory database {self.path}: {exc}") from exc
            finally:
                self._opening -= 1
            if self._closed:
                await reader.close()
                self.check_open()
            self._readers.append(reader)
        else:
            reader = await self._idle.get()
        try:
            yield reader
        except BaseException:
            # Interrupted mid-statement (cancelled, say), a cursor may be left open and with it
            # a read snapshot that would go stale and hold back WAL checkpoints: drop it.
            if reader in self._readers:
                self._readers.remove(reader)
                await reader.close()
            raise
        if reader in self._readers:  # not closed meanwhile
            self._idle.put_nowait(reader)

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
