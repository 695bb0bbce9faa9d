"""The original store: handles, TTL, the byte cap, namespaces, threads and processes, failures."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import stat
import threading
import time
from pathlib import Path

import pytest

from compression_layer.compress.reversible import HANDLE_RE
from compression_layer.errors import InputError
from compression_layer.originals.store import (
    FILENAME,
    OriginalNotFoundError,
    OriginalStore,
    StoreUnavailableError,
    digest_of,
)
from compression_layer.settings import OriginalsSettings, load_area


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_put_returns_a_content_addressed_handle_and_get_returns_the_text(tmp_path: Path) -> None:
    store = OriginalStore(tmp_path / FILENAME)
    text = "line 1\r\nline 2 \u00e9\n\n"
    handle = store.put(text, domain="log")
    assert HANDLE_RE.fullmatch(handle)
    assert handle == "o_" + digest_of("default", text)[:10]
    assert store.put(text, domain="log") == handle  # same text, same handle
    original = store.get(handle)
    assert (original.text, original.domain) == (text, "log")
    assert store.retrieve(handle) == text
    assert store.retrieve(handle, lines="2") == "line 2 \u00e9"
    assert store.stats().entries == 1


def test_open_uses_the_data_dir_and_settings(_isolated_home: Path) -> None:
    store = OriginalStore.open()
    assert store.path == _isolated_home / FILENAME
    assert not store.path.exists()  # nothing is touched until first use
    store.put("x", domain="prose")
    assert store.path.is_file()
    other = OriginalStore.open(settings=load_area(OriginalsSettings, namespace="team"))
    assert other.namespace == "team"


def test_a_prefix_collision_extends_the_handle(tmp_path: Path) -> None:
    store = OriginalStore(tmp_path / FILENAME)
    # Take the short handle of one text with an entry of another digest (a forged collision).
    text = "the text"
    short = "o_" + digest_of("default", text)[:10]
    store.put("warm", domain="prose")  # creates the schema
    with sqlite3.connect(store.path) as conn:
        conn.execute(
            "INSERT INTO originals VALUES (?, ?, ?, ?, ?, ?, ?)",
            ("default", short, "f" * 64, "prose", "other", 5, time.time()),
        )
    handle = store.put(text, domain="prose")
    assert handle == "o_" + digest_of("default", text)[:12]
    assert store.retrieve(handle) == text
    assert store.retrieve(short) == "other"


def test_expired_and_unknown_handles_are_clear_errors(tmp_path: Path) -> None:
    clock = Clock()
    store = OriginalStore(tmp_path / FILENAME, ttl_seconds=3600, clock=clock)
    handle = store.put("kept", domain="prose")
    clock.now += 3599
    assert store.retrieve(handle) == "kept"
    clock.now += 2
    with pytest.raises(OriginalNotFoundError, match=r"has expired \(originals are kept 1 hour"):
        store.retrieve(handle)
    with pytest.raises(OriginalNotFoundError, match="Compress the original text again"):
        store.retrieve("o_0000000000")
    with pytest.raises(InputError, match="is not a handle"):
        store.retrieve("o_xyz")
    assert store.purge() == 1
    with pytest.raises(OriginalNotFoundError, match="unknown handle"):
        store.retrieve(handle)


def test_keeping_again_restarts_the_time_to_live(tmp_path: Path) -> None:
    clock = Clock()
    store = OriginalStore(tmp_path / FILENAME, ttl_seconds=100, clock=clock)
    handle = store.put("kept", domain="prose")
    clock.now += 90
    store.put("kept", domain="prose")
    clock.now += 90
    assert store.retrieve(handle) == "kept"


def test_a_full_store_evicts_the_oldest_and_says_so(tmp_path: Path) -> None:
    clock = Clock()
    store = OriginalStore(tmp_path / FILENAME, max_bytes=25, clock=clock)
    first = store.keep("a" * 10, domain="prose")
    clock.now += 1
    second = store.keep("b" * 10, domain="prose")
    assert first.notes == second.notes == ()
    clock.now += 1
    third = store.keep("c" * 10, domain="prose")
    assert len(third.notes) == 1
    assert "evicted the 1 oldest original(s)" in third.notes[0]
    assert "originals.max_bytes" in third.notes[0]
    with pytest.raises(OriginalNotFoundError):
        store.get(first.handle)
    assert store.retrieve(second.handle) == "b" * 10
    assert store.retrieve(third.handle) == "c" * 10
    with pytest.raises(StoreUnavailableError, match="larger than the original store holds"):
        store.put("d" * 26, domain="prose")


def test_namespaces_do_not_see_each_other(tmp_path: Path) -> None:
    alice = OriginalStore(tmp_path / FILENAME, namespace="alice")
    bob = alice.with_namespace("bob")
    handle = alice.put("secret plan", domain="prose")
    assert bob.put("secret plan", domain="prose") != handle  # the namespace is in the hash
    with pytest.raises(OriginalNotFoundError) as err:
        bob.get(handle)
    unknown = pytest.raises(OriginalNotFoundError)
    with unknown as never:
        bob.get("o_" + "0" * 10)
    # Reported exactly like a handle that never existed: nothing says it is kept elsewhere.
    assert str(err.value).replace(handle, "H") == str(never.value).replace("o_" + "0" * 10, "H")
    assert bob.purge(everything=True) == 1
    assert alice.retrieve(handle) == "secret plan"


def test_concurrent_puts_from_threads(tmp_path: Path) -> None:
    store = OriginalStore(tmp_path / FILENAME)
    handles: dict[int, str] = {}
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for k in range(20):
                handles[n * 100 + k] = store.put(f"text {n} {k}", domain="prose")
                store.retrieve(handles[n * 100 + k])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    assert len(set(handles.values())) == 120
    for key, handle in handles.items():
        assert store.retrieve(handle) == f"text {key // 100} {key % 100}"


def _put_many(path: str, worker: int, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    store = OriginalStore(Path(path))
    out.put([(k, store.put(f"proc {worker} {k}", domain="log")) for k in range(40)])


def test_concurrent_puts_from_two_processes(tmp_path: Path) -> None:
    path = tmp_path / FILENAME
    OriginalStore(path).put("warm", domain="prose")  # the schema exists before both start
    ctx = multiprocessing.get_context("spawn")
    queue: multiprocessing.Queue = ctx.Queue()  # type: ignore[type-arg]
    procs = [ctx.Process(target=_put_many, args=(str(path), n, queue)) for n in range(2)]
    for proc in procs:
        proc.start()
    results = [queue.get(timeout=120) for _ in procs]
    for proc in procs:
        proc.join(timeout=60)
        assert proc.exitcode == 0
    store = OriginalStore(path)
    for n, pairs in enumerate(sorted(results, key=lambda r: store.retrieve(r[0][1]))):
        for k, handle in pairs:
            assert store.retrieve(handle) == f"proc {n} {k}"
    assert store.stats().entries == 81


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_folder_raises_store_unavailable_from_put(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        store = OriginalStore(folder / FILENAME)
        with pytest.raises(StoreUnavailableError, match="cannot keep this text"):
            store.put("x", domain="prose")
    finally:
        folder.chmod(stat.S_IRWXU)


def test_a_path_that_is_a_folder_raises_store_unavailable(tmp_path: Path) -> None:
    # Works as root too: the database path is a directory, so nothing can be opened there.
    (tmp_path / "db").mkdir()
    store = OriginalStore(tmp_path / "db")
    with pytest.raises(StoreUnavailableError, match="cannot keep this text"):
        store.put("x", domain="prose")


def test_public_api_retrieve_and_store(_isolated_home: Path) -> None:
    from compression_layer import OriginalStore as Public
    from compression_layer import retrieve

    assert Public is OriginalStore
    store = Public.open()
    handle = store.put("one\ntwo\nthree\n", domain="log")
    assert retrieve(handle) == "one\ntwo\nthree\n"  # the default store: the same file
    assert retrieve(handle, lines="2-3", store=store) == "two\nthree"
    assert retrieve(handle, match="thr") == "three"
