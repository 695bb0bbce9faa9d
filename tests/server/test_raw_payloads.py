"""Every payload gets an answer: raw bytes on a real stdio pipe and in HTTP bodies.

Malformed, over-deep, oversized and batch payloads each get a JSON-RPC error (with the request's
id when it can be read), and the server keeps serving: a tools/list and a ping after the table
are answered normally.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp.server.mcpserver import MCPServer

from compression_layer.server.state import ServerState
from compression_layer.server.wire import Refusal, check_message, message_limit, scan_id
from compression_layer.settings import ServerSettings
from srv_helpers import running
from wire_cases import (
    DEPTH,
    RawCase,
    RawStdio,
    http_answer,
    http_session,
    raw_payloads,
    server_env,
)

MAX_TEXT = 100_000
LIMIT = message_limit(ServerSettings(max_text_bytes=MAX_TEXT))
CASES = raw_payloads(LIMIT)


def check_answer(case: RawCase, answer: dict[str, Any] | None) -> None:
    assert answer is not None, f"{case.name}: no answer"
    assert answer["jsonrpc"] == "2.0"
    assert answer["id"] == case.id, (case.name, answer)
    if case.code is None:
        assert "result" in answer, (case.name, answer)
        return
    error = answer["error"]
    assert error["code"] == case.code, (case.name, error)
    assert error["message"] and len(error["message"]) < 400, error


@pytest.mark.parametrize("case", [c for c in CASES if c.name != "huge line"], ids=lambda c: c.name)
def test_check_message_classifies(case: RawCase) -> None:
    outcome = check_message(case.payload)
    if case.code is None or case.code == -32601:  # valid messages: the server answers them
        assert not isinstance(outcome, Refusal)
        return
    assert isinstance(outcome, Refusal), case.name
    assert (outcome.code, outcome.id) == (case.code, case.id)


def test_refusals_say_what_is_wrong() -> None:
    by_name = {c.name: check_message(c.payload) for c in CASES}
    messages = {name: getattr(o, "message", "") for name, o in by_name.items()}
    assert "lone surrogate \\ud800" in messages["lone surrogate"]
    assert "not valid UTF-8 (byte" in messages["invalid UTF-8"]
    assert "nested deeper than 200 levels" in messages["100k-deep nesting"]
    assert (
        "batches" in messages["batch array"] and "one message per line" in messages["batch array"]
    )
    assert "id must be a string or an integer, got null" in messages["null id"]
    assert 'jsonrpc must be "2.0"' in messages["wrong version"]


def test_scan_id_reads_the_top_level_id_only() -> None:
    assert scan_id(b'{"params":{"id":3,"x":"]}"},"id":"real"') == "real"
    assert scan_id(b'{"params":' + b"[" * DEPTH + b"]" * DEPTH + b',"id":4,"x":') == 4
    assert scan_id(b' { "a" : [1, {"b": "x\\"]"}] , "id" : -2 , "oops') == -2
    for no_id in (b'{"id":true}', b'{"id":1.5}', b'{"id":null}', b"[1]", b"", b'{"a":', b"{"):
        assert scan_id(no_id) is None, no_id
    assert scan_id(b'{"id":"\\ud800"}') is None  # cannot be echoed back as UTF-8


@pytest.mark.slow
def test_stdio_answers_every_payload(root: Path, tmp_path: Path) -> None:
    env = server_env(tmp_path, root, COMPRESSION_LAYER_SERVER__MAX_TEXT_BYTES=str(MAX_TEXT))
    server = RawStdio(env, tmp_path)
    try:
        init = server.handshake()
        assert init["result"]["serverInfo"]["name"] == "compression-layer"
        for case in CASES:
            check_answer(case, server.answer(case.payload))
            assert server.alive(), case.name
        # Blank lines are framing: nothing to answer, and nothing breaks.
        server.send(b"")
        check_answer(CASES[-1], server.answer(CASES[-1].payload))
    finally:
        server.close()


def test_http_answers_every_payload(server: MCPServer[ServerState]) -> None:
    with (
        running(server, None, max_text_bytes=MAX_TEXT) as url,
        httpx2.Client(timeout=60) as http,
    ):
        headers = http_session(http, url)
        for case in CASES:
            status, answer = http_answer(http, url, headers, case.payload)
            check_answer(case, answer)
            if case.code in (-32700, -32600):
                assert status == (413 if case.name == "huge line" else 400), (case.name, status)
            else:
                assert status == 200, (case.name, status)
        assert "one message per request" in str(
            http_answer(http, url, headers, b"[]")[1]["error"]["message"]  # type: ignore[index]
        )
