"""Crash safety and multi-process writes, with real subprocesses (fake compressor and embedder)."""

from __future__ import annotations

import os
import select
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from compression_layer.memory import MemoryStore
from compression_layer.settings import MemorySettings
from memory_fakes import FakeCompressor, FakeEmbedder
from memory_writer import content_for

WRITER = Path(__file__).resolve().parents[1] / "support" / "memory_writer.py"
DEADLINE_S = 120.0

pytestmark = pytest.mark.slow


def _spawn(db: Path, prefix: str, batch: int, batches: int | None = None) -> subprocess.Popen[str]:
    args = [sys.executable, str(WRITER), str(db), prefix, str(batch)]
    if batches is not None:
        args.append(str(batches))
    env = {**os.environ, "PYTHONPATH": str(WRITER.parent)}
    return subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


def _read_acks(proc: subprocess.Popen[str], wanted: int) -> dict[int, str]:
    """Read ``ACK`` lines until ``wanted`` acks (bounded by DEADLINE_S)."""
    assert proc.stdout is not None
    acks: dict[int, str] = {}
    end = time.monotonic() + DEADLINE_S
    while len(acks) < wanted:
        ready, _, _ = select.select([proc.stdout], [], [], max(0.0, end - time.monotonic()))
        assert ready, f"writer produced {len(acks)} acks before the deadline"
        line = proc.stdout.readline()
        assert line, f"writer exited early: {proc.stderr.read() if proc.stderr else ''}"
        if line.startswith("ACK "):
            _, index, mid = line.split()
            acks[int(index)] = mid
    return acks


def _check_consistent(db: Path) -> int:
    """No half-written rows: every row has its vector, tags and FTS entry. Returns the count."""
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        conn.execute("INSERT INTO memories_fts(memories_fts) VALUES ('integrity-check')")
        n = conn.execute("SELECT COUNT(*) FROM memories").fetchone()[0]
        missing_vec = conn.execute(
            "SELECT COUNT(*) FROM memories m LEFT JOIN embeddings e ON e.text_hash = m.embed_hash"
            " AND e.model = m.embed_model WHERE e.text_hash IS NULL"
        ).fetchone()[0]
        assert missing_vec == 0
        tag_rows = conn.execute("SELECT COUNT(*) FROM memory_tags").fetchone()[0]
        assert tag_rows == 2 * n  # every writer memory carries two tags
        fts_rows = conn.execute(
            "SELECT COUNT(*) FROM memories_fts WHERE memories_fts MATCH 'memory'"
        )
        assert fts_rows.fetchone()[0] == n
    return int(n)


async def test_sigkill_mid_batch_loses_nothing_acknowledged(tmp_path: Path) -> None:
    db = tmp_path / "crash.sqlite3"
    batch = 25
    proc = _spawn(db, "crash", batch)
    try:
        acks = _read_acks(proc, wanted=batch * 8)
        proc.send_signal(signal.SIGKILL)  # the writer is mid-way through a later batch by now
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    n = _check_consistent(db)
    assert n >= len(acks)
    assert n % batch == 0, "a batch was half-written"
    async with MemoryStore.open(
        db, settings=MemorySettings(), compressor=FakeCompressor(), embedder=FakeEmbedder()
    ) as store:
        for index, mid in acks.items():
            memory = await store.get(mid)
            assert memory.content == content_for("crash", index)
            assert memory.metadata == {"i": index, "prefix": "crash"}
        hits = await store.search(content_for("crash", 3), namespace="crash", k=1)
        assert hits[0].id == acks[3]
        # The database takes writes again after the crash.
        assert (await store.store("after the crash", namespace="crash")).status == "created"


async def test_two_processes_writing_at_once_both_succeed(tmp_path: Path) -> None:
    db = tmp_path / "shared.sqlite3"
    async with MemoryStore.open(db, settings=MemorySettings(), embedder=FakeEmbedder()):
        pass  # create and migrate first, so both writers race on data rather than schema
    procs = [_spawn(db, name, batch=20, batches=10) for name in ("left", "right")]
    try:
        outputs = [p.communicate(timeout=DEADLINE_S) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
        assert out.count("ACK ") == 200
    assert _check_consistent(db) == 400
    with sqlite3.connect(db) as conn:
        counts = dict(conn.execute("SELECT namespace, COUNT(*) FROM memories GROUP BY namespace"))
    assert counts == {"left": 200, "right": 200}
