"""A local HTTP server speaking the Anthropic, OpenAI and Gemini wire formats, with scripted faults.

The real SDK clients are pointed at it by base URL. Every request is recorded. Faults are consumed
one per request from a per-API script (:meth:`FakeAPI.script`), or apply to every request of an
API (:attr:`FakeAPI.always`; ``dead`` is the older spelling of ``always[api] = "500"``).

Faults (:data:`FAULTS`): HTTP errors as the real APIs send them (``401``, ``403``, ``404`` model not
found, ``429`` with a tiny Retry-After, ``429-wait`` with ``retry_after_s``, ``500``, ``503``),
broken bodies on a 200 (``malformed``: truncated JSON, ``html``: a login page, ``string``: a JSON
string, ``missing``: an object without the answer's fields, ``wrong-type``: the answer's fields
with the wrong types), ``html-502`` (a proxy's error page), and time (``slow``: answers after
``slow_s``; ``hang``: never answers until the server is closed).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

AnswerFn = Callable[[str, str, str], str]  # (api, system, prompt) -> answer text

_GEMINI_PATH = re.compile(r"^/v1(?:beta)?/models/([^:]+):(generateContent|countTokens)$")

FAULTS = (
    "401",
    "403",
    "404",
    "429",
    "429-wait",
    "500",
    "503",
    "malformed",
    "html",
    "html-502",
    "string",
    "missing",
    "wrong-type",
    "slow",
    "hang",
)

LOGIN_PAGE = (
    b"<!DOCTYPE html><html><head><title>Sign in - Corporate Proxy</title></head>"
    b"<body><form>...</form></body></html>"
)
BAD_GATEWAY = b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"


def default_answer(api: str, system: str, prompt: str) -> str:
    """A deterministic answer: the question when there is one, else a fixed sentence."""
    match = re.search(r"^Question: (.+)$", prompt, re.MULTILINE)
    return f"The answer to {match.group(1)} is 42." if match else "It computes the answer, 42."


def words(text: str) -> int:
    """The fake's token count: whitespace-separated words (deterministic, easy to assert on)."""
    return len(text.split())


@dataclass
class Request:
    api: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any] | None
    at: float = 0.0


@dataclass
class FakeAPI:
    """State shared with the handler threads: scripts, persistent faults, the request log."""

    url: str = ""
    answer: AnswerFn = default_answer
    scripts: dict[str, list[str]] = field(default_factory=dict)
    dead: set[str] = field(default_factory=set)
    always: dict[str, str] = field(default_factory=dict)
    echo_key_on_401: bool = False
    slow_s: float = 0.5
    retry_after_s: float = 1.0
    requests: list[Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    released: threading.Event = field(default_factory=threading.Event)

    def script(self, api: str, *faults: str) -> None:
        """Queue faults for ``api``, one per request (see :data:`FAULTS`)."""
        unknown = [f for f in faults if f not in FAULTS]
        assert not unknown, f"unknown faults {unknown}; known: {FAULTS}"
        with self.lock:
            self.scripts.setdefault(api, []).extend(faults)

    def count(self, api: str | None = None, kind: str | None = None) -> int:
        """Requests seen, optionally for one API and one endpoint kind (``generate``/``count``)."""
        with self.lock:
            return sum(
                1
                for r in self.requests
                if (api is None or r.api == api)
                and (kind is None or ("count" in r.path.lower()) == (kind == "count"))
            )

    def times(self, api: str | None = None) -> list[float]:
        """``time.monotonic()`` at which each request (of ``api``) arrived."""
        with self.lock:
            return [r.at for r in self.requests if api is None or r.api == api]

    def next_fault(self, api: str) -> str | None:
        with self.lock:
            if api in self.dead:
                return "500"
            queue = self.scripts.get(api) or []
            if queue:
                return queue.pop(0)
            return self.always.get(api)


def _api_of(path: str) -> str | None:
    if path.startswith("/v1/messages"):
        return "anthropic"
    if path.startswith("/v1/chat/completions"):
        return "openai"
    if _GEMINI_PATH.match(path):
        return "gemini"
    return None


def _prompt_of(api: str, body: dict[str, Any]) -> tuple[str, str]:
    if api == "anthropic":
        message = body["messages"][0]["content"]
        return str(body.get("system", "")), message if isinstance(message, str) else ""
    if api == "openai":
        by_role = {m["role"]: m["content"] for m in body["messages"]}
        return str(by_role.get("system", "")), str(by_role.get("user", ""))
    system = body.get("systemInstruction") or body.get("system_instruction") or {}
    sys_text = " ".join(p.get("text", "") for p in system.get("parts", []))
    parts = body["contents"][0]["parts"]
    return sys_text, " ".join(p.get("text", "") for p in parts)


def _model_of(api: str, path: str, body: dict[str, Any]) -> str:
    if api == "gemini":
        match = _GEMINI_PATH.match(path)
        return match.group(1) if match else "?"
    return str(body.get("model", "?"))


def _success(api: str, path: str, body: dict[str, Any], answer: str) -> dict[str, Any]:
    system, prompt = _prompt_of(api, body)
    n_in = words(system) + words(prompt)
    n_out = words(answer)
    if api == "anthropic":
        if path.endswith("count_tokens"):
            return {"input_tokens": n_in}
        return {
            "id": "msg_fake",
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": [{"type": "text", "text": answer}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": n_in, "output_tokens": n_out},
        }
    if api == "openai":
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": 0,
            "model": body["model"],
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": answer},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": n_in,
                "completion_tokens": n_out,
                "total_tokens": n_in + n_out,
            },
        }
    if path.endswith(":countTokens"):
        return {"totalTokens": n_in}
    return {
        "candidates": [
            {"content": {"role": "model", "parts": [{"text": answer}]}, "finishReason": "STOP"}
        ],
        "usageMetadata": {
            "promptTokenCount": n_in,
            "candidatesTokenCount": n_out,
            "totalTokenCount": n_in + n_out,
        },
    }


def _wrong_type(api: str) -> dict[str, Any]:
    """The answer's fields present with the wrong types: strings where objects are expected."""
    if api == "anthropic":
        return {"id": "msg_fake", "type": "message", "content": "The answer is 42.", "usage": "n/a"}
    if api == "openai":
        return {"id": "chatcmpl-fake", "object": "chat.completion", "choices": ["42"]}
    return {"candidates": ["The answer is 42."], "usageMetadata": "n/a"}


# (status, error type) of each HTTP fault, in each API's own words.
_STATUS = {
    "401": (401, "authentication_error", "UNAUTHENTICATED"),
    "403": (403, "permission_error", "PERMISSION_DENIED"),
    "404": (404, "not_found_error", "NOT_FOUND"),
    "429": (429, "rate_limit_error", "RESOURCE_EXHAUSTED"),
    "429-wait": (429, "rate_limit_error", "RESOURCE_EXHAUSTED"),
    "500": (500, "api_error", "INTERNAL"),
    "503": (503, "overloaded_error", "UNAVAILABLE"),
}


def _error_body(api: str, status: int, message: str, kind: str = "api_error") -> dict[str, Any]:
    if api == "gemini":
        gstatus = next((s[2] for s in _STATUS.values() if s[0] == status), "ERROR")
        return {"error": {"code": status, "message": message, "status": gstatus}}
    if api == "anthropic":
        return {"type": "error", "error": {"type": kind, "message": message}}
    code = "model_not_found" if status == 404 else None
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def _error_message(api: str, fault: str, model: str, shown_key: str) -> str:
    return {
        "401": f"invalid key {shown_key}",
        "403": "your key has no access to this resource",
        "404": f"The model `{model}` does not exist or you do not have access to it.",
        "429": "rate limited",
        "429-wait": "rate limited; retry later",
        "500": "boom",
        "503": "overloaded",
    }[fault]


class _Handler(BaseHTTPRequestHandler):
    fake: FakeAPI

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        return

    def _send(
        self,
        status: int,
        payload: bytes,
        headers: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> None:
        try:
            self.send_response(status)
            self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(payload)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout test)

    def _key(self) -> str:
        key = self.headers.get("x-api-key") or self.headers.get("x-goog-api-key") or ""
        return key or (self.headers.get("authorization") or "").removeprefix("Bearer ")

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        path = self.path.split("?", 1)[0]
        api = _api_of(path)
        try:
            body = json.loads(raw) if raw else {}
        except json.JSONDecodeError:
            body = None
        fake = self.fake
        with fake.lock:
            fake.requests.append(
                Request(api or "?", path, dict(self.headers), body, time.monotonic())
            )
        if api is None or body is None:
            self._send(404, b'{"error": "unknown route"}')
            return
        fault = fake.next_fault(api)
        # Retry-After is tiny so SDK backoff never slows the tests.
        quick = {"retry-after-ms": "5", "retry-after": "0.005"}
        if fault in _STATUS:
            status, kind, _ = _STATUS[fault]
            shown = self._key() if fake.echo_key_on_401 else "***"
            message = _error_message(api, fault, _model_of(api, path, body), shown)
            headers: dict[str, str] = {}
            if fault == "429-wait":
                headers = {"retry-after": f"{fake.retry_after_s:g}"}
            elif status in (429, 500, 503):
                headers = quick
            else:
                headers = {"x-should-retry": "false"}
            self._send(
                status, json.dumps(_error_body(api, status, message, kind)).encode(), headers
            )
        elif fault == "malformed":
            self._send(200, b'{"id": "msg_fake", "content": [')
        elif fault == "html":
            self._send(200, LOGIN_PAGE, content_type="text/html; charset=utf-8")
        elif fault == "html-502":
            self._send(502, BAD_GATEWAY, quick, content_type="text/html")
        elif fault == "string":
            self._send(200, b'"OK"')
        elif fault == "missing":
            self._send(200, b'{"id": "fake", "object": "unknown"}')
        elif fault == "wrong-type":
            self._send(200, json.dumps(_wrong_type(api)).encode())
        elif fault == "hang":
            fake.released.wait()  # until the server is closed: never an answer
        else:
            if fault == "slow":
                time.sleep(fake.slow_s)  # past the client's timeout
            system, prompt = _prompt_of(api, body)
            answer = fake.answer(api, system, prompt)
            self._send(200, json.dumps(_success(api, path, body, answer)).encode())


class FakeServer(ThreadingHTTPServer):
    """The server; closing it also releases requests held by the ``hang`` fault."""

    daemon_threads = True
    fake: FakeAPI

    def server_close(self) -> None:
        self.fake.released.set()
        super().server_close()


def start(fake: FakeAPI) -> FakeServer:
    """Serve ``fake`` on a free loopback port in a daemon thread; sets ``fake.url``."""
    fake.released.clear()
    handler = type("Handler", (_Handler,), {"fake": fake})
    server = FakeServer(("127.0.0.1", 0), handler)
    server.fake = fake
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
    ).start()
    return server


def closed_port_url() -> str:
    """A loopback URL nothing listens on (connection refused)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


UNRESOLVABLE_URL = "http://api.compression-layer-test.invalid"  # .invalid never resolves (RFC 6761)
