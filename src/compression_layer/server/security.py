"""Guards at the server's edges: file roots, HTTP bearer token, Host/Origin checks, bind address.

File reads: a path the model passes is resolved (symlinks and ``..`` followed) and must land
inside one of the configured roots, so neither ``../../etc/passwd`` nor a symlink pointing out
of the root reaches a file. The resolved path is what gets read, never the given one; errors name
the path as given, never where a symlink led (``/proc/self`` would show the server's pid).
"""

from __future__ import annotations

import errno
import hmac
import ipaddress
import logging
import math
import os
from collections import Counter
from pathlib import Path

from starlette.types import ASGIApp, Receive, Scope, Send

from compression_layer.errors import ConfigError, InputError

TOKEN_ENV = "COMPRESSION_LAYER_TOKEN"
# A token guarding a server other machines can reach: 32 random bytes, as secrets.token_urlsafe(32).
MIN_TOKEN_BITS = 256
TOKEN_HOWTO = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
log = logging.getLogger(__name__)


def effective_roots(roots: list[Path]) -> list[Path]:
    """Configured roots, resolved; the working directory when none are configured."""
    chosen = roots or [Path.cwd()]
    return [Path(os.path.expanduser(r)).resolve() for r in chosen]


def shown_path(raw: str, limit: int = 120) -> str:
    """``raw`` for an error message: as given, clipped in the middle when very long."""
    return raw if len(raw) <= limit else f"{raw[: limit // 2]}…{raw[-limit // 2 :]}"


def path_problem(raw: str, exc: OSError | RuntimeError) -> str:
    """A caller-facing reason for an OS error on ``raw`` that names only ``raw``."""
    name = shown_path(raw)
    code = getattr(exc, "errno", None)
    if isinstance(exc, RuntimeError) or code == errno.ELOOP:  # 3.11 raises RuntimeError
        return f"{name}: symlink loop (a link leads back to itself); fix the link or pass the file"
    if code == errno.ENAMETOOLONG:
        return f"{name}: path too long ({len(raw)} characters, or a name over the system's limit)"
    if code in (errno.EACCES, errno.EPERM):
        return f"{name}: permission denied"
    reason = getattr(exc, "strerror", None) or "cannot be read"
    return f"{name}: {reason.lower()}"


def resolve_in_roots(raw: str, roots: list[Path]) -> Path:
    """Resolve ``raw`` (absolute, or relative to the first root) and refuse it outside the roots."""
    if not raw.strip():
        raise InputError("empty path")
    if "\x00" in raw:
        raise InputError("path contains a NUL character")
    given = Path(os.path.expanduser(raw))
    candidate = given if given.is_absolute() else roots[0] / given
    try:
        # strict=False: a missing file still resolves, and the reader then says "no such file".
        resolved = candidate.resolve(strict=False)
        resolved.exists()  # surfaces ENAMETOOLONG / ELOOP here, named as given
    except (OSError, RuntimeError) as exc:
        raise InputError(path_problem(raw, exc)) from None
    if not any(resolved == root or resolved.is_relative_to(root) for root in roots):
        roots_shown = ", ".join(str(r) for r in roots)
        raise InputError(
            f"{shown_path(raw)}: outside the allowed roots ({roots_shown}); only files under "
            "the roots can be read (set COMPRESSION_LAYER_SERVER__ROOTS)"
        )
    return resolved


def read_in_roots(raw: str, roots: list[Path], *, max_bytes: int) -> str:
    """The text of the file ``raw`` names inside the roots; every error names ``raw`` as given."""
    from compression_layer.compress.inputs import read_path

    resolved = resolve_in_roots(raw, roots)
    try:
        return read_path(resolved, max_bytes=max_bytes)
    except InputError as exc:
        raise InputError(str(exc).replace(str(resolved), shown_path(raw))) from None
    except (OSError, RuntimeError) as exc:
        raise InputError(path_problem(raw, exc)) from None


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def read_token() -> str | None:
    """The bearer token from the environment; blank counts as unset."""
    token = os.environ.get(TOKEN_ENV, "").strip()
    return token or None


def _alphabet(token: str) -> int:
    """The size of the smallest usual alphabet ``token`` is drawn from."""
    chars = set(token)
    if chars <= set("0123456789"):
        return 10
    if chars <= set("0123456789abcdef") or chars <= set("0123456789ABCDEF"):
        return 16
    b64 = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/=")
    return 64 if chars <= b64 else 95


def token_weakness(token: str) -> str | None:
    """Why ``token`` is too weak for a public bind, or ``None``.

    A cautious estimate: length times the bits of its alphabet (hex 4, base64url 6, printable
    ~6.6) must reach ``MIN_TOKEN_BITS``, and the characters must look drawn at random (not one
    or a few repeated, not a pattern repeated), which a made-up password rarely does.
    """
    alphabet = _alphabet(token)
    bits = len(token) * math.log2(alphabet)
    if bits < MIN_TOKEN_BITS:
        return f"about {bits:.0f} bits; at least {MIN_TOKEN_BITS} are needed"
    counts = Counter(token)
    spread = -sum(c / len(token) * math.log2(c / len(token)) for c in counts.values())
    if spread < 0.85 * math.log2(alphabet) and spread < 3.0:
        return "too few distinct characters"
    trigrams = {token[i : i + 3] for i in range(len(token) - 2)}
    if len(trigrams) < 0.75 * (len(token) - 2):
        return "it repeats a pattern"
    return None


def check_bind(host: str, token: str | None) -> None:
    """Refuse to expose the server beyond this machine without a strong token.

    Loopback needs none. Elsewhere the token must carry 32 random bytes' worth of entropy.
    """
    if is_loopback(host):
        return
    if token is None:
        raise ConfigError(
            f"refusing to bind {host}: it is reachable from other machines and no token is set; "
            f"set {TOKEN_ENV} (clients then send 'Authorization: Bearer <token>'; generate one "
            f"with: {TOKEN_HOWTO}) or bind 127.0.0.1"
        )
    weakness = token_weakness(token)
    if weakness is not None:
        raise ConfigError(
            f"refusing to bind {host}: {TOKEN_ENV} is too weak for a server other machines can "
            f"reach ({weakness}); generate one with: {TOKEN_HOWTO}"
        )


def allowed_hosts_origins(
    host: str, port: int, extra_hosts: list[str], extra_origins: list[str]
) -> tuple[list[str], list[str]]:
    """Host and Origin values accepted over HTTP: loopback on any port, plus the bound host."""
    hosts = ["127.0.0.1:*", "localhost:*", "[::1]:*"]
    origins = ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"]
    if not is_loopback(host) and host not in ("0.0.0.0", "::"):
        shown = f"[{host}]" if ":" in host else host
        hosts.append(f"{shown}:{port}")
        origins += [f"http://{shown}:{port}", f"https://{shown}:{port}"]
    return hosts + list(extra_hosts), origins + list(extra_origins)


class BearerTokenMiddleware:
    """ASGI middleware: every HTTP request must carry ``Authorization: Bearer <token>``.

    The comparison is constant-time over bytes, and neither the expected nor the presented
    token is ever logged.
    """

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._expected = token.encode("utf-8")

    def _authorized(self, scope: Scope) -> bool:
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                scheme, _, presented = value.partition(b" ")
                if scheme.lower() != b"bearer":
                    return False
                return hmac.compare_digest(presented.strip(), self._expected)
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._authorized(scope):
            await self.app(scope, receive, send)
            return
        log.warning("refused an HTTP request without a valid bearer token")
        body = (
            b'{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":'
            b'"unauthorized: send Authorization: Bearer <COMPRESSION_LAYER_TOKEN>"}}'
        )
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"www-authenticate", b'Bearer realm="compression-layer"'),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
