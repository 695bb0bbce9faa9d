"""Copy a SQLite memory database into Postgres: every memory, its vector and its history.

Idempotent: memories already in the target (same id and content) are counted, not copied again,
so an interrupted run is finished by running it again. Vectors are copied, not recomputed: the
target's embedder is served from the source's ``embeddings`` table (keyed by the sha256 of the
embedded text), falling back to the real embedder only for a text the source has no vector of.
History entries of the copied memories replace the target's (one transaction). The result is
verified: per-namespace counts and the (id, content_hash) pairs of both sides must be equal, and
every copied content must hash to its ``content_hash``.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from compression_layer.memory.errors import MemoryStoreError
from compression_layer.memory.postgres.store import PostgresMemoryStore
from compression_layer.memory.vectors import Embedder

BATCH = 500


@dataclass
class MigrationReport:
    """What a migration did and what it checked."""

    source: str
    target: str
    memories: int = 0
    created: int = 0
    existing: int = 0
    vectors_copied: int = 0
    vectors_computed: int = 0
    history: int = 0
    namespaces: dict[str, int] = field(default_factory=dict)
    verified: bool = False
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class CopiedVectors:
    """An embedder that answers from the source's stored vectors (by text hash)."""

    def __init__(self, path: Path, model: str, fallback: Embedder, report: MigrationReport):
        self.model_name = model
        self._fallback = fallback
        self._report = report
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            rows = conn.execute(
                "SELECT text_hash, vector FROM embeddings WHERE model = ?", (model,)
            ).fetchall()
        self._vectors = {h: np.frombuffer(v, dtype=np.float32) for h, v in rows}

    def __call__(self, texts: list[str]) -> Any:
        keys = [hashlib.sha256(t.encode("utf-8")).hexdigest() for t in texts]
        missing = [t for t, h in zip(texts, keys, strict=True) if h not in self._vectors]
        fresh: Any = np.asarray(self._fallback(missing), dtype=np.float32) if missing else []
        computed: Iterator[Any] = iter(fresh)
        out = [self._vectors[h] if h in self._vectors else next(computed) for h in keys]
        self._report.vectors_copied += len(texts) - len(missing)
        self._report.vectors_computed += len(missing)
        return np.stack(out)


def read_history(path: Path) -> list[tuple[Any, ...]]:
    """The source's history rows (memory_id, action, changes, actor, at), oldest first; none
    when the source predates history."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        found = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'memory_history'"
        ).fetchone()
        if not found:
            return []
        return conn.execute(
            "SELECT memory_id, action, changes, actor, at FROM memory_history ORDER BY seq"
        ).fetchall()


async def migrate(
    source: Any,
    source_path: Path,
    target: PostgresMemoryStore,
    report: MigrationReport,
    progress: Callable[[int], None] | None = None,
) -> MigrationReport:
    """Copy ``source`` (an open SQLite ``MemoryStore`` on ``source_path``) into ``target``
    (opened with a ``CopiedVectors`` embedder), then verify."""
    batch: list[dict[str, Any]] = []
    ids: list[str] = []

    async def flush() -> None:
        counts = await target.import_records(batch)
        report.created += counts["created"]
        report.existing += counts["existing"]
        report.memories += len(batch)
        if progress:
            progress(report.memories)
        batch.clear()

    async for record in source.export(None):
        batch.append(record)
        ids.append(record["id"])
        if len(batch) >= BATCH:
            await flush()
    if batch:
        await flush()
    history = [row for row in read_history(source_path) if row[0] in set(ids)]
    async with target.pg.transaction() as conn:
        await conn.execute("DELETE FROM memory_history WHERE memory_id = ANY(%s)", (ids,))
        async with conn.cursor() as cur:
            await cur.executemany(
                "INSERT INTO memory_history (memory_id, action, changes, actor, at) "
                "VALUES (%s, %s, %s::jsonb, %s, %s)",
                [
                    (m, a, c if isinstance(c, str) else json.dumps(c), who, at)
                    for m, a, c, who, at in history
                ],
            )
    report.history = len(history)
    await verify(source, target, report)
    return report


async def verify(source: Any, target: PostgresMemoryStore, report: MigrationReport) -> None:
    """Counts per namespace and (id, content_hash) pairs equal on both sides; contents hash to
    their content_hash on the target."""
    want = {r["id"]: r["content_hash"] async for r in source.export(None)}
    have: dict[str, str] = {}
    async for r in target.export(None):
        have[r["id"]] = r["content_hash"]
        if hashlib.sha256(r["content"].encode("utf-8")).hexdigest() != r["content_hash"]:
            report.problems.append(f"{r['id']}: content does not match its hash on the target")
    missing = set(want) - set(have)
    changed = [i for i in set(want) & set(have) if want[i] != have[i]]
    if missing:
        report.problems.append(f"{len(missing)} memories missing on the target")
    if changed:
        report.problems.append(f"{len(changed)} memories differ in content on the target")
    src_stats, dst_stats = await source.stats(), await target.stats()
    report.namespaces = dict(src_stats.namespaces)
    for ns, n in src_stats.namespaces.items():
        if dst_stats.namespaces.get(ns, 0) < n:
            report.problems.append(
                f"namespace {ns}: {n} in the source, {dst_stats.namespaces.get(ns, 0)} in target"
            )
    report.verified = not report.problems
    if report.problems:
        raise MemoryStoreError("migration not verified: " + "; ".join(report.problems))


def _json(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
