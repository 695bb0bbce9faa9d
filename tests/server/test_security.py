"""Path confinement to the roots, allowed Host/Origin lists, the bearer middleware on its own."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from compression_layer.errors import InputError
from compression_layer.server.security import (
    allowed_hosts_origins,
    effective_roots,
    is_loopback,
    resolve_in_roots,
)


@pytest.fixture
def roots(tmp_path: Path) -> list[Path]:
    inside = tmp_path / "root"
    (inside / "sub").mkdir(parents=True)
    (inside / "sub" / "a.txt").write_text("a", encoding="utf-8")
    (tmp_path / "outside.txt").write_text("secret", encoding="utf-8")
    return effective_roots([inside])


def test_inside_paths_resolve(roots: list[Path]) -> None:
    root = roots[0]
    assert resolve_in_roots("sub/a.txt", roots) == root / "sub" / "a.txt"
    assert resolve_in_roots(str(root / "sub" / "a.txt"), roots) == root / "sub" / "a.txt"
    # `..` that stays inside is fine; a missing file resolves (the reader reports it).
    assert resolve_in_roots("sub/../sub/a.txt", roots) == root / "sub" / "a.txt"
    assert resolve_in_roots("sub/missing.txt", roots) == root / "sub" / "missing.txt"


@pytest.mark.parametrize("raw", ["../outside.txt", "sub/../../outside.txt", "/etc/passwd", "/"])
def test_escapes_are_refused(roots: list[Path], raw: str) -> None:
    with pytest.raises(InputError, match="outside the allowed roots"):
        resolve_in_roots(raw, roots)


def test_symlinks_are_judged_by_their_target(roots: list[Path], tmp_path: Path) -> None:
    root = roots[0]
    os.symlink(tmp_path / "outside.txt", root / "escape.txt")
    os.symlink(tmp_path, root / "escape_dir")
    os.symlink(root / "sub" / "a.txt", root / "inner.txt")
    with pytest.raises(InputError, match="outside"):
        resolve_in_roots("escape.txt", roots)
    with pytest.raises(InputError, match="outside"):
        resolve_in_roots("escape_dir/outside.txt", roots)
    assert resolve_in_roots("inner.txt", roots) == root / "sub" / "a.txt"


def test_sibling_with_common_prefix_is_outside(tmp_path: Path) -> None:
    (tmp_path / "root").mkdir()
    (tmp_path / "root-evil").mkdir()
    roots = effective_roots([tmp_path / "root"])
    with pytest.raises(InputError):
        resolve_in_roots(str(tmp_path / "root-evil" / "x"), roots)


def test_empty_and_nul_paths_are_refused(roots: list[Path]) -> None:
    for raw in ["", "  ", "a\x00b"]:
        with pytest.raises(InputError):
            resolve_in_roots(raw, roots)


def test_default_root_is_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert effective_roots([]) == [tmp_path.resolve()]


def test_allowed_hosts() -> None:
    hosts, origins = allowed_hosts_origins("127.0.0.1", 8765, [], [])
    assert "127.0.0.1:*" in hosts and "localhost:*" in hosts
    assert all("evil" not in h for h in hosts)
    hosts, origins = allowed_hosts_origins("10.0.0.2", 9000, ["mcp.example:443"], [])
    assert "10.0.0.2:9000" in hosts and "mcp.example:443" in hosts
    assert "http://10.0.0.2:9000" in origins
    assert is_loopback("127.0.0.5") and is_loopback("::1") and not is_loopback("0.0.0.0")
