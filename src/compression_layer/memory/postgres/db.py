"""The Postgres memory database: a connection pool, transactions, and errors in the store's terms.

Every call borrows a connection from a ``psycopg_pool.AsyncConnectionPool`` (checked on
checkout, so connections left over from a restarted server are replaced, not handed out). A
lost or refused connection becomes ``MemoryUnavailableError`` (retryable): a write that failed
that way was not acknowledged, and sending it again is safe because a store of the same content
is deduplicated. Errors name the database by its URL with the password masked.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from compression_layer.memory.errors import MemoryStoreError, MemoryUnavailableError
from compression_layer.memory.postgres.schema import migrate
from compression_layer.memory.postgres.urls import redact_url

POOL_MIN = 1
POOL_MAX = 8
CONNECT_TIMEOUT_S = 10
WAIT_TIMEOUT_S = 10.0
"""How long a call waits for a pooled connection before it fails as unavailable (default; the
store passes ``memory.busy_timeout_ms``)."""

Conn = AsyncConnection[DictRow]

# Connection failures, server shutdowns and "cannot connect now" (57P03) are worth a retry;
# anything else (a constraint, bad SQL) is a bug or a conflict and is reported as such.
_RETRYABLE = (psycopg.OperationalError, psycopg.errors.AdminShutdown, PoolTimeout)


class PgDatabase:
    """An open Postgres memory database (pool + the URL shown in messages)."""

    def __init__(self, pool: AsyncConnectionPool[Conn], url: str) -> None:
        self._pool = pool
        self._url = url
        self.shown = redact_url(url)
        self._closed = False

    @classmethod
    async def open(cls, url: str, wait_s: float = WAIT_TIMEOUT_S) -> PgDatabase:
        """Connect, migrate, open the pool; MemoryUnavailableError naming the URL (password
        masked) when the server cannot be reached."""
        shown = redact_url(url)
        try:
            conn = await psycopg.AsyncConnection.connect(
                url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S
            )
        except psycopg.Error as exc:
            raise MemoryUnavailableError(
                f"cannot connect to the memory database {shown}: {scrub(str(exc), url)}"
            ) from None
        try:
            await migrate(conn)
        except MemoryStoreError:
            raise
        except psycopg.Error as exc:
            raise MemoryStoreError(
                f"cannot prepare the memory database {shown}: {scrub(str(exc), url)}"
            ) from None
        finally:
            await conn.close()
        pool: AsyncConnectionPool[Conn] = AsyncConnectionPool(
            url,
            min_size=POOL_MIN,
            max_size=POOL_MAX,
            kwargs={"autocommit": True, "row_factory": dict_row},
            check=AsyncConnectionPool.check_connection,
            timeout=max(wait_s, 0.1),
            open=False,
            name="compression-layer-memory",
        )
        try:
            await pool.open(wait=True, timeout=CONNECT_TIMEOUT_S)
        except PoolTimeout:
            await pool.close()
            raise MemoryUnavailableError(
                f"cannot connect to the memory database {shown}: no connection within "
                f"{CONNECT_TIMEOUT_S} s"
            ) from None
        return cls(pool, url)

    async def close(self) -> None:
        self._closed = True
        await self._pool.close()

    def check_open(self) -> None:
        if self._closed:
            raise MemoryStoreError("the memory store is closed")

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Conn]:
        """A pooled connection (autocommit, rows as dicts); connection faults -> unavailable."""
        self.check_open()
        try:
            async with self._pool.connection() as conn:
                yield conn
        except _RETRYABLE as exc:
            raise MemoryUnavailableError(
                f"the memory database {self.shown} is unavailable ({scrub(str(exc), self._url)});"
                " nothing of this call was saved, retry once it is back"
            ) from None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Conn]:
        """A pooled connection inside one transaction, committed on normal exit."""
        async with self.connection() as conn, conn.transaction():
            yield conn

    async def fetchall(self, sql: str, params: Any = None) -> list[DictRow]:
        async with self.connection() as conn:
            cur = await conn.execute(sql, params)  # type: ignore[arg-type]
            return await cur.fetchall()

    async def fetchone(self, sql: str, params: Any = None) -> DictRow | None:
        async with self.connection() as conn:
            cur = await conn.execute(sql, params)  # type: ignore[arg-type]
            return await cur.fetchone()


async def fetchall(conn: Conn, sql: str, params: Any = None, binary: bool = False) -> list[DictRow]:
    """Rows of ``sql``; ``binary`` results skip text parsing (numbers, vectors as real[])."""
    async with conn.cursor(binary=binary) as cur:
        await cur.execute(sql, params)  # type: ignore[arg-type]
        return await cur.fetchall()


async def fetchone(conn: Conn, sql: str, params: Any = None) -> DictRow | None:
    cur = await conn.execute(sql, params)  # type: ignore[arg-type]
    return await cur.fetchone()


def scrub(message: str, url: str) -> str:
    """``message`` with the URL's password (if any) masked, wherever a driver quoted it."""
    from urllib.parse import unquote, urlsplit

    try:
        password = urlsplit(url).password
    except ValueError:
        password = None
    out = message.replace(url, redact_url(url))
    for secret in {password, unquote(password) if password else None}:
        if secret:
            out = out.replace(secret, "***")
    return out
