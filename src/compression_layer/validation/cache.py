"""Content-hash cache of provider answers in aiosqlite: the same call is never paid for twice.

The key is a sha256 over the provider, the model's API id and every parameter that changes the
answer (system prompt, prompt, max_tokens, temperature). The API key is not part of it and is never
stored.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from types import TracebackType

import aiosqlite

from compression_layer.settings import data_dir
from compression_layer.validation.providers.base import Completion, CompletionRequest

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    text TEXT NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    created_at REAL NOT NULL
)
"""


def default_cache_path() -> Path:
    """``<data dir>/validation/cache.sqlite3``."""
    folder = data_dir() / "validation"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / "cache.sqlite3"


def cache_key(provider: str, request: CompletionRequest) -> str:
    """sha256 of everything that determines the answer."""
    payload = json.dumps(
        {
            "provider": provider,
            "model": request.model,
            "system": request.system,
            "prompt": request.prompt,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
        },
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class ResponseCache:
    """Async context manager over the cache database."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_cache_path()
        self._db: aiosqlite.Connection | None = None

    async def __aenter__(self) -> ResponseCache:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = await aiosqlite.connect(self.path)
        await self._db.execute(_SCHEMA)
        await self._db.commit()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._db is not None:
            await self._db.close()
            self._db = None

    def _conn(self) -> aiosqlite.Connection:
        if self._db is None:
            raise RuntimeError("ResponseCache used outside 'async with'")
        return self._db

    async def get(self, key: str) -> Completion | None:
        """The cached completion for ``key``, if any."""
        async with self._conn().execute(
            "SELECT text, input_tokens, output_tokens FROM responses WHERE key = ?", (key,)
        ) as cursor:
            row = await cursor.fetchone()
        if row is None:
            return None
        return Completion(text=str(row[0]), input_tokens=int(row[1]), output_tokens=int(row[2]))

    async def put(self, key: str, provider: str, model: str, completion: Completion) -> None:
        """Store a completion (last write wins; answers are deterministic at temperature 0)."""
        db = self._conn()
        await db.execute(
            "INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                key,
                provider,
                model,
                completion.text,
                completion.input_tokens,
                completion.output_tokens,
                time.time(),
            ),
        )
        await db.commit()
