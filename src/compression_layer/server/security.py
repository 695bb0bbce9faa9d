"""Guards at the server's edges: file roots, HTTP bearer token, Host/Origin checks, bind address.

File reads: a path the model passes is resolved (symlinks and ``..`` followed) and must land
inside one of the configured roots, so neither ``../../etc/passwd`` nor a symlink pointing out
of the root reaches a file. The resolved path is what gets read, never the given one.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
from pathlib import Path

from starlette.types import ASGIApp, Receive, Scope, Send

from compression_layer.errors import ConfigError, InputError

TOKEN_ENV = "COMPRESSION_LAYER_TOKEN"
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
log = logging.getLogger(__name__)


def effective_roots(roots: list[Path]) -> list[Path]:
    """Configured roots, resolved; the working directory when none are configured."""
    chosen = roots or [Path.cwd()]
    return [Path(os.path.expanduser(r)).resolve() for r in chosen]


def resolve_in_roots(raw: str, roots: list[Path]) -> Path:
    """Resolve ``raw`` (absolute, or relative to the first root) and refuse it outside the roots."""
    if not raw.strip():
        raise InputError("empty path")
    if "\x00" in raw:
        raise InputError("path contains a NUL character")
    given = Path(os.path.expanduser(raw))
    candidate = given if given.is_absolute() else roots[0] / given
    # strict=False: a missing file still resolves, and read_path then says "no such file".
    resolved = candidate.resolve(strict=False)
    if not any(resolved == root or resolved.is_relative_to(root) for root in roots):
        shown = ", ".join(str(r) for r in roots)
        raise InputError(
            f"{raw}: resolves to {resolved}, outside the allowed roots ({shown}); "
            "only files under the roots can be read (set COMPRESSION_LAYER_SERVER__ROOTS)"
        )
    return resolved


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


def check_bind(host: str, token: str | None) -> None:
    """Refuse to expose the server beyond this machine without a token."""
    if not is_loopback(host) and token is None:
        raise ConfigError(
            f"refusing to bind {host}: it is reachable from other machines and no token is set; "
            f"set {TOKEN_ENV} (clients then send 'Authorization: Bearer <token>') "
            "or bind 127.0.0.1"
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
        body = b'{"error": "unauthorized: send Authorization: Bearer <COMPRESSION_LAYER_TOKEN>"}'
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
