"""A local HTTP server speaking the Anthropic, OpenAI and Gemini wire formats, with scripted faults.

The real SDK clients are pointed at it by base URL. Every request is recorded; faults are consumed
one per request from a per-API script, and an API can be marked dead (always 500).
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


@dataclass
class FakeAPI:
    """State shared with the handler threads: scripts, dead APIs, the request log."""

    url: str = ""
    answer: AnswerFn = default_answer
    scripts: dict[str, list[str]] = field(default_factory=dict)
    dead: set[str] = field(default_factory=set)
    echo_key_on_401: bool = False
    slow_s: float = 0.5
    requests: list[Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def script(self, api: str, *faults: str) -> None:
        """Queue faults for ``api``: ``429``, ``500``, ``slow``, ``malformed``, ``401``."""
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

    def next_fault(self, api: str) -> str | None:
        with self.lock:
            if api in self.dead:
                return "500"
            queue = self.scripts.get(api) or []
            return queue.pop(0) if queue else None


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


def _error_body(api: str, status: int, message: str) -> dict[str, Any]:
    if api == "gemini":
        return {"error": {"code": status, "message": message, "status": "ERROR"}}
    if api == "anthropic":
        return {"type": "error", "error": {"type": "api_error", "message": message}}
    return {"error": {"message": message, "type": "server_error", "code": None}}


class _Handler(BaseHTTPRequestHandler):
    fake: FakeAPI

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        return

    def _send(self, status: int, payload: bytes, headers: dict[str, str] | None = None) -> None:
        try:
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout test)

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
            fake.requests.append(Request(api or "?", path, dict(self.headers), body))
        if api is None or body is None:
            self._send(404, b'{"error": "unknown route"}')
            return
        fault = fake.next_fault(api)
        # Retry-After is tiny so SDK backoff never slows the tests.
        quick = {"retry-after-ms": "5", "retry-after": "0.005"}
        if fault == "429":
            self._send(429, json.dumps(_error_body(api, 429, "rate limited")).encode(), quick)
        elif fault == "500":
            self._send(500, json.dumps(_error_body(api, 500, "boom")).encode(), quick)
        elif fault == "401":
            key = self.headers.get("x-api-key") or self.headers.get("x-goog-api-key") or ""
            key = key or (self.headers.get("authorization") or "").removeprefix("Bearer ")
            shown = key if fake.echo_key_on_401 else "***"
            body_401 = _error_body(api, 401, f"invalid key {shown}")
            self._send(401, json.dumps(body_401).encode(), {"x-should-retry": "false"})
        elif fault == "malformed":
            self._send(200, b'{"id": "msg_fake", "content": [')
        else:
            if fault == "slow":
                time.sleep(fake.slow_s)  # past the client's timeout
            system, prompt = _prompt_of(api, body)
            answer = fake.answer(api, system, prompt)
            self._send(200, json.dumps(_success(api, path, body, answer)).encode())


def start(fake: FakeAPI) -> ThreadingHTTPServer:
    """Serve ``fake`` on a free loopback port in a daemon thread; sets ``fake.url``."""
    handler = type("Handler", (_Handler,), {"fake": fake})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
    ).start()
    return server
