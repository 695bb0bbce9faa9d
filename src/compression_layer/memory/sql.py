"""What the two drivers' connections have in common, for SQL helpers that serve both backends:
rows read by column name and ``fetchall``/``fetchone`` with bound parameters. Each helper takes
the driver's placeholder (``?`` for SQLite, ``%s`` for Postgres) as ``ph``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol


class RowLike(Protocol):
    """A row read by column name: ``sqlite3.Row`` or psycopg's dict row."""

    def __getitem__(self, key: str, /) -> Any: ...


class Fetcher(Protocol):
    """A connection or database that answers queries (either backend's)."""

    async def fetchall(self, sql: str, params: list[Any]) -> Sequence[RowLike]: ...

    async def fetchone(self, sql: str, params: list[Any]) -> RowLike | None: ...
