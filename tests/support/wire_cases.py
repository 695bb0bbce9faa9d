"""Reliability tables shared by the server tests and bench/reliability.py.

``raw_payloads(limit)``: bytes a client (or a fuzzer) may put on the wire, with the JSON-RPC
answer each must get. ``BAD_INPUTS``: tool calls that must come back as a clear ``isError``
result. ``RawStdio`` / ``RawHttp`` speak the wire directly, below any SDK client, and every
wait on them is bounded.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROTOCOL = "2025-06-18"
INIT: dict[str, Any] = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": PROTOCOL,
        "capabilities": {},
        "clientInfo": {"name": "raw", "version": "0"},
    },
}
INITIALIZED: dict[str, Any] = {"jsonrpc": "2.0", "method": "notifications/initialized"}
PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND = -32700, -32600, -32601
DEPTH = 100_000


def line(message: dict[str, Any]) -> bytes:
    return json.dumps(message).encode("utf-8")


def call(request_id: int, arguments_json: bytes) -> bytes:
    """A ``compress_context`` call whose arguments object is given as raw JSON bytes."""
    return (
        b'{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"compress_context",'
        b'"arguments":%s}}' % (request_id, arguments_json)
    )


@dataclass(frozen=True)
class RawCase:
    """A payload and its answer: an error ``code`` (``None``: a result) for ``id``."""

    name: str
    payload: bytes
    code: int | None
    id: int | str | None


def raw_payloads(limit: int) -> list[RawCase]:
    """Every kind of malformed payload, then valid ones that must still be served;
    ``limit``: the server's message limit in bytes (the huge line goes just past it)."""
    nested = b"[" * DEPTH + b"]" * DEPTH
    huge_text = b'{"text":"' + b"a" * (limit + 16) + b'"}'
    return [
        RawCase("not JSON", b"hello, server", PARSE_ERROR, None),
        RawCase(
            "truncated JSON", b'{"jsonrpc":"2.0","id":11,"method":"tools/list"', PARSE_ERROR, 11
        ),
        RawCase("lone surrogate", call(12, b'{"text":"abc \\ud800 def"}'), PARSE_ERROR, 12),
        RawCase("invalid UTF-8", call(13, b'{"text":"caf\xe9 \xff"}'), PARSE_ERROR, 13),
        RawCase("100k-deep nesting", call(14, b'{"text":' + nested + b"}"), INVALID_REQUEST, 14),
        RawCase("100k-deep bare array", nested, INVALID_REQUEST, None),
        RawCase(
            "batch array",
            b'[{"jsonrpc":"2.0","id":15,"method":"ping"},{"jsonrpc":"2.0","id":16,"method":"ping"}]',
            INVALID_REQUEST,
            None,
        ),
        RawCase("empty batch", b"[]", INVALID_REQUEST, None),
        RawCase("scalar", b"42", INVALID_REQUEST, None),
        RawCase("null id", b'{"jsonrpc":"2.0","id":null,"method":"ping"}', INVALID_REQUEST, None),
        RawCase(
            "fractional id", b'{"jsonrpc":"2.0","id":1.5,"method":"ping"}', INVALID_REQUEST, None
        ),
        RawCase("wrong version", b'{"jsonrpc":"1.0","id":17,"method":"ping"}', INVALID_REQUEST, 17),
        RawCase(
            "params not an object",
            b'{"jsonrpc":"2.0","id":18,"method":"ping","params":[1]}',
            INVALID_REQUEST,
            18,
        ),
        RawCase("huge line", call(19, huge_text), INVALID_REQUEST, 19),
        RawCase(
            "unknown method",
            b'{"jsonrpc":"2.0","id":20,"method":"no/such/method"}',
            METHOD_NOT_FOUND,
            20,
        ),
        RawCase(
            "tools/list after all that",
            b'{"jsonrpc":"2.0","id":21,"method":"tools/list"}',
            None,
            21,
        ),
        RawCase("ping", b'{"jsonrpc":"2.0","id":"last","method":"ping"}', None, "last"),
    ]


@dataclass(frozen=True)
class BadInput:
    """A ``compress_context`` call that must fail with a message containing ``expect``."""

    name: str
    arguments: dict[str, Any]
    expect: str


LONG_PATH = "d" * 5000
BAD_INPUTS = [
    BadInput("empty text", {"text": ""}, "nothing to compress"),
    BadInput("whitespace text", {"text": "  \n\t  "}, "empty (or whitespace only)"),
    BadInput("binary-looking text", {"text": "\x00\x01\x02PNG"}, "NUL"),
    BadInput("invalid UTF-8 file", {"paths": ["latin1.txt"]}, "not valid UTF-8"),
    BadInput("malformed JSON file", {"paths": ["broken.json"]}, "invalid JSON"),
    BadInput("path outside the roots", {"paths": ["../outside.txt"]}, "outside the allowed roots"),
    BadInput("symlink out of the roots", {"paths": ["escape.txt"]}, "outside the allowed roots"),
    BadInput("symlink loop", {"paths": ["loop_a"]}, "symlink loop"),
    BadInput("missing file", {"paths": ["missing.txt"]}, "no such file"),
    BadInput("directory", {"paths": ["subdir"]}, "is a directory"),
    BadInput(
        "unknown engine", {"text": "Some text to compress.", "engine": "nope"}, "unknown engine"
    ),
    BadInput("rate 0", {"text": "Some text to compress.", "rate": 0}, "rate"),
    BadInput("rate 2", {"text": "Some text to compress.", "rate": 2}, "rate"),
    BadInput(
        "negative target_tokens", {"text": "Some text.", "target_tokens": -5}, "target_tokens"
    ),
    BadInput("over-long path", {"paths": [LONG_PATH]}, "path too long"),
    BadInput("over-long file name", {"paths": ["n" * 300]}, "path too long"),
    BadInput("text and paths", {"text": "a", "paths": ["ok.txt"]}, "either text or paths"),
]


def make_bad_input_root(base: Path) -> Path:
    """A root holding the files the ``BAD_INPUTS`` name, and an outside file to escape to."""
    root = base / "root"
    (root / "subdir").mkdir(parents=True)
    (root / "ok.txt").write_text("A short file.", encoding="utf-8")
    (root / "latin1.txt").write_bytes("café crème, naïve façade".encode("latin-1"))
    (root / "broken.json").write_text('{"orders": [1, 2,', encoding="utf-8")
    (base / "outside.txt").write_text("secret", encoding="utf-8")
    os.symlink(base / "outside.txt", root / "escape.txt")
    os.symlink(root / "loop_b", root / "loop_a")
    os.symlink(root / "loop_a", root / "loop_b")
    return root


def server_env(base: Path, root: Path, **extra: str) -> dict[str, str]:
    """The environment of a server subprocess: its own data and config dirs under ``base``."""
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(base),
        "HF_HUB_OFFLINE": "1",
        "COMPRESSION_LAYER_HOME": str(base / "data"),
        "COMPRESSION_LAYER_CONFIG_DIR": str(base / "configs"),
        "COMPRESSION_LAYER_SERVER__ROOTS": json.dumps([str(root)]),
        **extra,
    }


class NoReply(AssertionError):
    """The server did not answer within the bound."""


class RawStdio:
    """``python -m compression_layer.server serve`` driven by raw bytes on its stdin.

    A thread moves stdout lines into a queue, so every wait for an answer is bounded.
    """

    def __init__(
        self,
        env: dict[str, str],
        cwd: Path,
        timeout: float = 120.0,
        command: list[str] | None = None,
    ) -> None:
        self.timeout = timeout
        self.stderr_path = cwd / "stdio-server.stderr"
        with self.stderr_path.open("wb") as stderr:
            self.proc = subprocess.Popen(
                command or [sys.executable, "-m", "compression_layer.server", "serve"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                env=env,
                cwd=str(cwd),
            )
        self.lines: queue.Queue[bytes | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            self.lines.put(raw)
        self.lines.put(None)

    def send(self, payload: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(payload + b"\n")
        self.proc.stdin.flush()

    def reply(self) -> dict[str, Any]:
        """The next message on stdout (a reply or a notification)."""
        try:
            raw = self.lines.get(timeout=self.timeout)
        except queue.Empty:
            raise NoReply(f"no reply within {self.timeout} s") from None
        if raw is None:
            tail = self.stderr_path.read_text(encoding="utf-8", errors="replace")[-2000:]
            raise NoReply(f"the server closed stdout (exit {self.proc.poll()}):\n{tail}")
        message: dict[str, Any] = json.loads(raw)  # every stdout line is JSON
        return message

    def answer(self, payload: bytes, request_id: Any = ...) -> dict[str, Any]:
        """Send ``payload``; its answer, skipping notifications (and, given ``request_id``,
        late answers to earlier requests)."""
        self.send(payload)
        while True:
            message = self.reply()
            if "id" in message and request_id in (..., message["id"]):
                return message

    def handshake(self) -> dict[str, Any]:
        result = self.answer(line(INIT))
        self.send(line(INITIALIZED))
        return result

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        """End of input, then a bounded wait for the exit (killed past it)."""
        try:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
            self.proc.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait(timeout=30)


HTTP_HEADERS = {
    "content-type": "application/json",
    "accept": "application/json, text/event-stream",
}


def http_session(client: Any, url: str) -> dict[str, str]:
    """Open a session on an ``httpx``-style client: the headers later requests carry."""
    opened = client.post(url, content=line(INIT), headers=HTTP_HEADERS)
    assert opened.status_code == 200, opened.text
    headers = {
        **HTTP_HEADERS,
        "mcp-session-id": opened.headers["mcp-session-id"],
        "mcp-protocol-version": PROTOCOL,
    }
    done = client.post(url, content=line(INITIALIZED), headers=headers)
    assert done.status_code == 202, done.text
    return headers


def http_answer(client: Any, url: str, headers: dict[str, str], payload: bytes) -> tuple[int, Any]:
    """POST ``payload``; the HTTP status and the JSON-RPC answer (``None`` if none came)."""
    response = client.post(url, content=payload, headers=headers)
    answers = [m for m in sse_messages(response.text) if "id" in m] if response.text else []
    return response.status_code, answers[0] if answers else None


def sse_messages(text: str) -> list[dict[str, Any]]:
    """The JSON-RPC messages of an SSE (or plain JSON) response body."""
    stripped = text.strip()
    if stripped.startswith("{"):
        return [json.loads(stripped)]
    return [
        json.loads(ln[5:]) for ln in text.splitlines() if ln.startswith("data:") and ln[5:].strip()
    ]
