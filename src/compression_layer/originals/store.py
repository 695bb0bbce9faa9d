"""The original store: inputs kept content-addressed in SQLite, retrieved by handle and selector.

One file, ``<data dir>/originals.sqlite3`` (``originals.path``), in WAL mode with a busy timeout,
so threads of one process (one connection behind a lock) and several processes can put and read
at once. A handle is ``o_`` + the first 10 hex digits of sha256(namespace, NUL, text), extended
two digits at a time on the rare prefix collision, so the same text gets the same handle in a
namespace and a handle from one namespace means nothing in another (an entry of another
namespace is reported exactly like one that never existed).

Entries expire ``originals.ttl_seconds`` after they were (last) kept; when the texts together
pass ``originals.max_bytes`` the oldest are evicted, and :meth:`OriginalStore.keep` says how
many. The connection opens on first use: a store that cannot be written raises from ``put``
(the pipeline then stays lossless) rather than from ``open``. Nothing here logs text or paths.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from compression_layer.compress.reversible import HANDLE_RE
from compression_layer.errors import CompressionLayerError, InputError
from compression_layer.originals.select import View, view_of
from compression_layer.settings import OriginalsSettings, data_dir, load_area
from compression_layer.settings.areas import setting_name

FILENAME = "originals.sqlite3"
HANDLE_DIGITS = 10
_SCHEMA = """
CREATE TABLE IF NOT EXISTS originals (
    namespace TEXT NOT NULL,
    handle TEXT NOT NULL,
    digest TEXT NOT NULL,
    domain TEXT NOT NULL,
    text TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    kept_at REAL NOT NULL,
    PRIMARY KEY (namespace, handle)
);
CREATE INDEX IF NOT EXISTS originals_kept_at ON originals (kept_at);
CREATE INDEX IF NOT EXISTS originals_digest ON originals (namespace, digest);
"""


class OriginalNotFoundError(InputError):
    """A handle that is unknown here (never kept in this namespace, evicted, purged) or expired."""


class StoreUnavailableError(CompressionLayerError, RuntimeError):
    """The store cannot keep an original (not writable, disk full, locked, too large)."""


@dataclass(frozen=True)
class Kept:
    """What :meth:`OriginalStore.keep` did: the handle, and notes (evictions) for the result."""

    handle: str
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Original:
    """One kept original: its text, domain label and when it was kept (epoch seconds)."""

    handle: str
    text: str
    domain: str
    kept_at: float


@dataclass(frozen=True)
class StoreStats:
    """Entries and UTF-8 bytes kept, in this namespace and in the whole file."""

    path: str
    namespace: str
    entries: int
    bytes: int
    entries_all: int
    bytes_all: int
    max_bytes: int
    ttl_seconds: float | None


def digest_of(namespace: str, text: str) -> str:
    """sha256 over the namespace, a NUL and the text (hex)."""
    h = hashlib.sha256(namespace.encode("utf-8"))
    h.update(b"\0")
    h.update(text.encode("utf-8"))
    return h.hexdigest()


class OriginalStore:
    """Content-addressed originals in one SQLite file; an :class:`OriginalSink` for compress().

    >>> store = OriginalStore.open()
    >>> result = compress(text, rate=0.2, originals=store)
    >>> store.retrieve(result.handle, lines="10-20")
    """

    def __init__(
        self,
        path: Path,
        *,
        namespace: str = "default",
        ttl_seconds: float | None = 7 * 24 * 3600.0,
        max_bytes: int = 256_000_000,
        busy_timeout_ms: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(path)
        self.namespace = namespace
        self.ttl_seconds = ttl_seconds
        self.max_bytes = max_bytes
        self.busy_timeout_ms = busy_timeout_ms
        self.clock = clock
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None

    @classmethod
    def open(
        cls,
        path: Path | str | None = None,
        *,
        namespace: str | None = None,
        settings: OriginalsSettings | None = None,
        clock: Callable[[], float] = time.time,
    ) -> OriginalStore:
        """The store the settings name (``originals.*``); nothing is touched until first use."""
        cfg = settings or load_area(OriginalsSettings)
        where = Path(path) if path is not None else cfg.path or data_dir(create=False) / FILENAME
        return cls(
            where,
            namespace=namespace or cfg.namespace,
            ttl_seconds=cfg.ttl_seconds,
            max_bytes=cfg.max_bytes,
            busy_timeout_ms=cfg.busy_timeout_ms,
            clock=clock,
        )

    def with_namespace(self, namespace: str) -> OriginalStore:
        """The same file seen from another namespace (its own connection)."""
        return OriginalStore(
            self.path,
            namespace=namespace,
            ttl_seconds=self.ttl_seconds,
            max_bytes=self.max_bytes,
            busy_timeout_ms=self.busy_timeout_ms,
            clock=self.clock,
        )

    def __getstate__(self) -> dict[str, object]:
        # A worker process gets the settings, not the connection or the lock: it opens its own.
        state = dict(self.__dict__)
        state["_lock"] = state["_conn"] = None
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    # -- connection ---------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                self.path,
                timeout=self.busy_timeout_ms / 1000,
                isolation_level=None,  # explicit BEGIN IMMEDIATE around writes
                check_same_thread=False,  # one connection, serialised by self._lock
            )
            try:
                conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
                conn.executescript(_SCHEMA)
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    def close(self) -> None:
        """Close the connection (a later call opens it again)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> OriginalStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writes -------------------------------------------------------------------------------

    def put(self, text: str, *, domain: str) -> str:
        """Keep ``text`` and return its handle (:class:`OriginalSink`); raises when it cannot."""
        return self.keep(text, domain=domain).handle

    def keep(self, text: str, *, domain: str) -> Kept:
        """Keep ``text``; the result names the handle and any evictions this caused.

        Raises :class:`StoreUnavailableError` when the store cannot keep it (not writable, disk
        full, locked past the busy timeout, or the text alone is over ``max_bytes``).
        """
        size = len(text.encode("utf-8", "surrogatepass"))
        if size > self.max_bytes:
            raise StoreUnavailableError(
                f"the text ({size:,} bytes) is larger than the original store holds "
                f"({setting_name(OriginalsSettings, 'max_bytes')} = {self.max_bytes:,})"
            )
        digest = digest_of(self.namespace, text)
        now = self.clock()
        try:
            with self._lock:
                conn = self._connect()
                conn.execute("BEGIN IMMEDIATE")
                try:
                    handle = self._insert(conn, digest, text, domain, size, now)
                    evicted = self._evict(conn, handle, now)
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
        except (sqlite3.Error, OSError, UnicodeError) as exc:
            raise StoreUnavailableError(
                f"the original store cannot keep this text ({type(exc).__name__}: {exc})"
            ) from exc
        notes: tuple[str, ...] = ()
        if evicted:
            notes = (
                f"original store full ({setting_name(OriginalsSettings, 'max_bytes')} = "
                f"{self.max_bytes:,} bytes): evicted the {evicted} oldest original(s); their "
                "handles no longer retrieve",
            )
        return Kept(handle, notes)

    def _insert(
        self, conn: sqlite3.Connection, digest: str, text: str, domain: str, size: int, now: float
    ) -> str:
        row = conn.execute(
            "SELECT handle FROM originals WHERE namespace = ? AND digest = ?",
            (self.namespace, digest),
        ).fetchone()
        if row is not None:  # kept before: refresh its time (its life starts again)
            conn.execute(
                "UPDATE originals SET kept_at = ?, domain = ? WHERE namespace = ? AND handle = ?",
                (now, domain, self.namespace, row[0]),
            )
            return str(row[0])
        digits = HANDLE_DIGITS
        while True:
            handle = f"o_{digest[:digits]}"
            taken = conn.execute(
                "SELECT 1 FROM originals WHERE namespace = ? AND handle = ?",
                (self.namespace, handle),
            ).fetchone()
            if taken is None or digits >= len(digest):
                break
            digits += 2  # another text's handle starts the same: use a longer prefix
        conn.execute(
            "INSERT INTO originals (namespace, handle, digest, domain, text, bytes, kept_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (self.namespace, handle, digest, domain, text, size, now),
        )
        return handle

    def _evict(self, conn: sqlite3.Connection, keep: str, now: float) -> int:
        """Drop expired entries, then the oldest while the file holds more than ``max_bytes``."""
        if self.ttl_seconds is not None:
            conn.execute("DELETE FROM originals WHERE kept_at < ?", (now - self.ttl_seconds,))
        total = conn.execute("SELECT COALESCE(SUM(bytes), 0) FROM originals").fetchone()[0]
        evicted = 0
        if total <= self.max_bytes:
            return 0
        rows = conn.execute(
            "SELECT namespace, handle, bytes FROM originals ORDER BY kept_at, rowid"
        ).fetchall()
        for namespace, handle, size in rows:
            if total <= self.max_bytes:
                break
            if namespace == self.namespace and handle == keep:
                continue
            conn.execute(
                "DELETE FROM originals WHERE namespace = ? AND handle = ?", (namespace, handle)
            )
            total -= size
            evicted += 1
        return evicted

    # -- reads --------------------------------------------------------------------------------

    def get(self, handle: str) -> Original:
        """The original kept under ``handle`` in this namespace; a clear error when none is."""
        wanted = handle.strip()
        if not HANDLE_RE.fullmatch(wanted):
            raise InputError(
                f"{handle!r} is not a handle: handles look like o_3fa9c2d1e0 (from a marker "
                "'[... omitted: retrieve o_... ]' or a result's handle field)"
            )
        try:
            with self._lock:
                row = (
                    self._connect()
                    .execute(
                        "SELECT text, domain, kept_at FROM originals "
                        "WHERE namespace = ? AND handle = ?",
                        (self.namespace, wanted),
                    )
                    .fetchone()
                )
        except (sqlite3.Error, OSError) as exc:
            raise StoreUnavailableError(
                f"the original store cannot be read ({type(exc).__name__}: {exc})"
            ) from exc
        if row is None:
            raise OriginalNotFoundError(
                f"unknown handle {wanted}: nothing is kept under it here (never kept in this "
                "namespace, evicted when the store was full, or purged). Compress the original "
                "text again to get a new handle"
            )
        text, domain, kept_at = row
        if self.ttl_seconds is not None and kept_at < self.clock() - self.ttl_seconds:
            raise OriginalNotFoundError(
                f"handle {wanted} has expired (originals are kept "
                f"{_duration(self.ttl_seconds)}, {setting_name(OriginalsSettings, 'ttl_seconds')}"
                "). Compress the original text again to get a new handle"
            )
        return Original(wanted, text, domain, kept_at)

    def retrieve(self, handle: str, **selector: str | int | None) -> str:
        """The part of the original under ``handle`` that ``selector`` names (all of it: none).

        Selectors are those of the markers (``lines``, ``path``, ``rows``, ``symbol``,
        ``match``; see :mod:`compression_layer.originals.select`).
        """
        original = self.get(handle)
        return View(original.text, original.domain).select(**selector)

    @staticmethod
    def select(original: str, domain: str, **selector: str | int | None) -> str:
        """Evaluate ``selector`` on an original in hand (the pipeline checks its markers so)."""
        return view_of(original, domain).select(**selector)

    def stats(self) -> StoreStats:
        """How much is kept, here and in the whole file."""
        with self._lock:
            conn = self._connect()
            mine = conn.execute(
                "SELECT COUNT(*), COALESCE(SUM(bytes), 0) FROM originals WHERE namespace = ?",
                (self.namespace,),
            ).fetchone()
            every = conn.execute(
                "SELECT COUNT(*), COALESCE(SUM(bytes), 0) FROM originals"
            ).fetchone()
        return StoreStats(
            path=str(self.path),
            namespace=self.namespace,
            entries=mine[0],
            bytes=mine[1],
            entries_all=every[0],
            bytes_all=every[1],
            max_bytes=self.max_bytes,
            ttl_seconds=self.ttl_seconds,
        )

    def purge(self, *, everything: bool = False) -> int:
        """Delete expired originals (all namespaces), or every one of this namespace; the count."""
        with self._lock:
            conn = self._connect()
            conn.execute("BEGIN IMMEDIATE")
            try:
                if everything:
                    cur = conn.execute(
                        "DELETE FROM originals WHERE namespace = ?", (self.namespace,)
                    )
                elif self.ttl_seconds is not None:
                    cur = conn.execute(
                        "DELETE FROM originals WHERE kept_at < ?",
                        (self.clock() - self.ttl_seconds,),
                    )
                else:
                    conn.execute("COMMIT")
                    return 0
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return cur.rowcount


def _duration(seconds: float) -> str:
    if seconds >= 86400 and seconds % 86400 == 0:
        return f"{int(seconds // 86400)} day(s)"
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{int(seconds // 3600)} hour(s)"
    return f"{seconds:g} seconds"


def retrieve(
    handle: str,
    *,
    lines: str | None = None,
    path: str | None = None,
    rows: str | None = None,
    symbol: str | None = None,
    match: str | None = None,
    store: OriginalStore | None = None,
) -> str:
    """The part of a kept original a marker names; no selector: the whole original, exactly.

    >>> retrieve("o_3fa9c2d1e0", lines="220-230")

    ``store`` defaults to ``OriginalStore.open()`` (the settings' file and namespace).
    """
    selector = {"lines": lines, "path": path, "rows": rows, "symbol": symbol, "match": match}
    if store is not None:
        return store.retrieve(handle, **selector)
    with OriginalStore.open() as opened:
        return opened.retrieve(handle, **selector)
