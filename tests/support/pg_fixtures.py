"""Pytest fixtures for the Postgres memory backend (a plugin: tests/conftest.py names it).

``pg_server``: one throwaway Postgres + pgvector for the session (``pg_local.LocalPostgres``).
``pg_url``: a fresh database on it for one test. Without the bundled server the tests that need
it are skipped with the reason, except under ``CI`` (set to anything but empty/0/false), where
they fail: Postgres tests are never silently skipped in CI.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator

import pytest

from pg_local import LocalPostgres, PostgresUnavailable

_names = itertools.count(1)


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[LocalPostgres]:
    try:
        server = LocalPostgres().start()
    except PostgresUnavailable as exc:
        if in_ci():
            pytest.fail(f"CI: the Postgres test server did not start: {exc}", pytrace=False)
        pytest.skip(f"no local Postgres for the memory backend tests: {exc}")
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def pg_url(pg_server: LocalPostgres) -> str:
    """A new, empty database (pgvector available) on the session's server."""
    if not pg_server.running():  # a test that stopped it and failed before starting it again
        pg_server.start()
    return pg_server.create_database(f"mem_{os.getpid()}_{next(_names)}")
