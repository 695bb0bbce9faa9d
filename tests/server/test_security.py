"""Path confinement to the roots (errors name the path as given), allowed Host/Origin lists, the
bearer middleware on its own, the token strength a public bind needs."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import pytest

from compression_layer.errors import ConfigError, InputError
from compression_layer.server.security import (
    TOKEN_HOWTO,
    BearerTokenMiddleware,
    allowed_hosts_origins,
    check_bind,
    effective_roots,
    is_loopback,
    read_in_roots,
    resolve_in_roots,
    token_weakness,
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


def test_errors_name_the_path_as_given(roots: list[Path], tmp_path: Path) -> None:
    """Never where a symlink led: /proc/self would show the server's pid, a link its target."""
    root = roots[0]
    os.symlink(tmp_path / "outside.txt", root / "escape.txt")
    with pytest.raises(InputError) as escaped:
        resolve_in_roots("escape.txt", roots)
    assert str(escaped.value).startswith("escape.txt: outside the allowed roots")
    assert "outside.txt" not in str(escaped.value)
    with pytest.raises(InputError) as proc:
        resolve_in_roots("/proc/self/environ", roots)
    assert "/proc/self/environ: outside" in str(proc.value)
    assert f"/{os.getpid()}" not in str(proc.value)


def test_read_in_roots_names_the_given_path(roots: list[Path]) -> None:
    root = roots[0]
    (root / "sub" / "latin1.txt").write_bytes("café".encode("latin-1"))
    (root / "sub" / "deeper").mkdir()
    os.symlink(root / "sub" / "gone.txt", root / "dangling.txt")
    os.symlink(root / "sub" / "deeper", root / "folder")
    os.symlink(root / "sub" / "latin1.txt", root / "alias.txt")
    assert read_in_roots("sub/a.txt", roots, max_bytes=100) == "a"
    for raw, reason in [
        ("dangling.txt", "dangling.txt: no such file"),
        ("folder", "folder is a directory"),
        ("alias.txt", "alias.txt is not valid UTF-8"),
    ]:
        with pytest.raises(InputError) as refused:
            read_in_roots(raw, roots, max_bytes=100)
        assert str(refused.value).startswith(reason), refused.value
        assert str(root) not in str(refused.value)


def test_symlink_loops_and_long_paths_are_clear_errors(roots: list[Path]) -> None:
    root = roots[0]
    os.symlink(root / "loop_b", root / "loop_a")
    os.symlink(root / "loop_a", root / "loop_b")
    for raw in ("loop_a", "loop_a/file.txt"):
        with pytest.raises(InputError, match=r"symlink loop"):
            read_in_roots(raw, roots, max_bytes=100)
    long_path = "/".join(["d" * 200] * 30)  # past PATH_MAX
    long_name = "n" * 300  # past NAME_MAX
    for raw in (long_path, long_name):
        with pytest.raises(InputError, match=r"path too long") as refused:
            read_in_roots(raw, roots, max_bytes=100)
        assert len(str(refused.value)) < 250  # the path is shown clipped


@pytest.mark.parametrize(
    ("token", "why"),
    [
        ("s3cret-token-for-tests", "bits"),
        ("a" * 100, "too few distinct characters"),
        ("passwordpassword" * 5, "too few distinct characters"),
        ("0123456789abcdef" * 4, "repeats a pattern"),
        (secrets.token_urlsafe(16), "bits"),
    ],
)
def test_a_public_bind_needs_a_strong_token(token: str, why: str) -> None:
    assert token_weakness(token) is not None and why in str(token_weakness(token))
    with pytest.raises(ConfigError) as refused:
        check_bind("0.0.0.0", token)
    message = str(refused.value)
    assert "too weak" in message and TOKEN_HOWTO in message
    assert token not in message
    check_bind("127.0.0.1", token)  # loopback: as before


def test_strong_tokens_pass() -> None:
    for _ in range(200):
        for token in (secrets.token_urlsafe(32), secrets.token_hex(32)):
            assert token_weakness(token) is None, token
            check_bind("10.0.0.2", token)
    with pytest.raises(ConfigError, match=r"secrets\.token_urlsafe"):
        check_bind("0.0.0.0", None)


async def test_bearer_refusal_is_a_json_rpc_error() -> None:
    sent: list[dict[str, object]] = []

    async def app(scope: object, receive: object, send: object) -> None:
        raise AssertionError("an unauthorized request reached the app")

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    guard = BearerTokenMiddleware(app, "expected-token")  # type: ignore[arg-type]
    scope = {"type": "http", "headers": [(b"authorization", b"Bearer wrong")]}
    await guard(scope, None, send)  # type: ignore[arg-type]
    assert sent[0]["status"] == 401
    body = json.loads(sent[1]["body"])  # type: ignore[arg-type]
    assert body["jsonrpc"] == "2.0" and body["id"] is None and body["error"]["code"] == -32600
