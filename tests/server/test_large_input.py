"""compress_context on large inputs: the compress area's limits (named in every refusal), and
results a transport cannot carry refused with a clear message instead of lost in transit."""

from __future__ import annotations

import re
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.server.mcpserver import MCPServer

from compression_layer.server.app import build_server
from compression_layer.server.limits import HTTP_EVENT_BYTES, INLINE_MAX_BYTES
from compression_layer.server.state import ServerState
from compression_layer.settings import CompressSettings, ServerSettings
from srv_helpers import FakeMemoryStore, content_text, error_text, structured

Server = MCPServer[ServerState]
# Plain lower-case prose without facts or operators: what the guard appends cannot grow it.
PLAIN = (
    "the team met in the old hall and talked about the long plan for the river and the roads "
    "and the school and the park and the market square near the station. "
)


def make_server(
    root: Path, compress: CompressSettings | None = None, **server: Any
) -> MCPServer[ServerState]:
    @asynccontextmanager
    async def memory(_: ServerState) -> AsyncIterator[FakeMemoryStore]:
        yield FakeMemoryStore()

    settings = ServerSettings(roots=[root], **server)
    return build_server(
        settings, compress_settings=compress or CompressSettings(), memory=memory, warm=False
    )


async def call(server: Server, arguments: dict[str, Any]) -> Any:
    async with Client(server) as client:
        return await client.call_tool("compress_context", arguments)


async def test_text_over_the_compress_limit_names_that_setting(root: Path) -> None:
    # The server's own max_text_bytes (the wire's cap) is larger: compress_context follows the
    # compress area's limit, as compress() and the CLI do.
    server = make_server(root, CompressSettings(max_input_bytes=1_000), max_text_bytes=100_000)
    message = error_text(await call(server, {"text": "word " * 400}))
    assert "text is 2.0 KB, over the 1.0 KB limit" in message
    assert "compress.max_input_bytes" in message
    assert "COMPRESSION_LAYER_COMPRESS__MAX_INPUT_BYTES" in message
    assert not (await call(server, {"text": "word " * 150})).is_error


async def test_the_env_var_named_in_the_error_changes_the_servers_limit(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COMPRESSION_LAYER_COMPRESS__MAX_INPUT_BYTES", "1000")
    server = build_server(ServerSettings(roots=[root]), memory=_no_memory, warm=False)
    assert "over the 1.0 KB limit" in error_text(await call(server, {"text": "word " * 400}))


@asynccontextmanager
async def _no_memory(_: ServerState) -> AsyncIterator[FakeMemoryStore]:
    yield FakeMemoryStore()


async def test_files_each_and_together_and_their_count(root: Path) -> None:
    for i in range(3):
        (root / f"part{i}.txt").write_text(PLAIN * 4, encoding="utf-8")  # ~0.6 KB each
    (root / "large.txt").write_text(PLAIN * 20, encoding="utf-8")
    server = make_server(root, CompressSettings(max_input_bytes=1_500), max_paths=3)
    one = error_text(await call(server, {"paths": ["large.txt"]}))
    assert "large.txt is 3.1 KB, over the 1.5 KB limit" in one and "MAX_INPUT_BYTES" in one
    together = error_text(await call(server, {"paths": ["part0.txt", "part1.txt", "part2.txt"]}))
    assert "the files together are over the 1.5 KB limit" in together
    assert "compress.max_input_bytes" in together
    many = error_text(await call(server, {"paths": [f"part{i}.txt" for i in range(4)]}))
    assert "4 paths, over the limit of 3 per call" in many
    assert "COMPRESSION_LAYER_SERVER__MAX_PATHS" in many
    assert not (await call(server, {"paths": ["part0.txt", "part1.txt"]})).is_error


async def test_query_has_its_own_limit(root: Path) -> None:
    server = make_server(root, CompressSettings(max_query_chars=50))
    message = error_text(await call(server, {"text": PLAIN, "query": "why " * 100}))
    assert "query is 400 characters, over the 50-character limit" in message
    assert "COMPRESSION_LAYER_COMPRESS__MAX_QUERY_CHARS" in message
    ok = await call(server, {"text": PLAIN * 3, "query": "what about the river?"})
    assert not ok.is_error


async def test_a_result_too_large_is_refused_before_the_work(root: Path) -> None:
    server = make_server(root, max_result_bytes=4_000)
    text = PLAIN * 200  # ~30 KB: at the default rate the output alone is over 4 KB
    message = error_text(await call(server, {"text": text}))
    assert "Nothing was compressed" in message
    assert "over the 4.0 KB set by server.max_result_bytes" in message
    assert "COMPRESSION_LAYER_SERVER__MAX_RESULT_BYTES" in message
    # The budget it suggests is one that arrives.
    match = re.search(r"target_tokens=(\d+) or lower", message)
    assert match is not None
    fitted = await call(server, {"text": text, "target_tokens": int(match.group(1))})
    assert not fitted.is_error, content_text(fitted)


async def test_when_the_facts_alone_are_too_large_it_says_to_send_less(root: Path) -> None:
    server = make_server(root, max_result_bytes=6_000)
    dense = "Invoice 4711 was paid on 14 March 2024: $4,200 to ACME-42 in Berlin. " * 300
    message = error_text(await call(server, {"text": dense, "target_tokens": 10}))
    assert "Nothing was compressed" in message and "a lower rate cannot help" in message
    assert re.search(r"send at most about \d+% of this text per call", message)


async def test_a_result_found_too_large_is_refused_not_sent(root: Path) -> None:
    # A lossless engine's output size is only known after the work.
    server = make_server(root, max_result_bytes=4_000)
    message = error_text(await call(server, {"text": PLAIN * 60, "engine": "structural"}))
    assert "as one message, over the 4.0 KB set by server.max_result_bytes" in message
    assert "it was not sent" in message and "target_tokens=" in message


def spaced(n_bytes: int) -> str:
    """Prose with double spaces: the structural engine's layout pass shortens it losslessly."""
    words = PLAIN.replace(" ", "  ")
    return (words * (n_bytes // len(words) + 1))[:n_bytes].rsplit(" ", 1)[0] + "."


async def test_a_large_compressed_text_is_sent_once(root: Path) -> None:
    server = make_server(root)
    text = spaced(400_000)
    result = await call(server, {"text": text, "engine": "structural"})
    out = structured(result)
    shown = content_text(result)
    assert out["compressed"] is None and out["text_form"] == "compressed"
    body = shown[: out["compressed_chars"]]
    assert len(body.encode("utf-8")) > INLINE_MAX_BYTES
    assert body == " ".join(text.split())  # the layout pass: every word, single spaces
    assert shown[len(body) :].startswith("\n[compressed ")  # then the one line of figures
    small = structured(await call(server, {"text": spaced(10_000), "engine": "structural"}))
    assert small["compressed"] is not None and small["compressed_chars"] is None


@contextmanager
def serving_http(server: Server) -> Iterator[str]:
    """The server's streamable HTTP app under uvicorn in a thread; yields the endpoint URL."""
    import socket

    import uvicorn

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    app = server.streamable_http_app(streamable_http_path="/mcp", host="127.0.0.1")
    runner = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    ready = threading.Event()
    for _ in range(600):  # bounded: at most ~60 s to start
        if runner.started or not thread.is_alive():
            break
        ready.wait(0.1)
    assert runner.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        runner.should_exit = True
        thread.join(timeout=30)


@pytest.mark.slow
async def test_over_http_results_arrive_or_are_refused_never_lost(root: Path) -> None:
    server = make_server(root, CompressSettings(max_input_bytes=3_000_000))
    with serving_http(server) as url:
        async with (
            httpx2.AsyncClient(timeout=300) as http,
            Client(streamable_http_client(url, http_client=http)) as client,
        ):
            # ~0.9 MB after the layout pass: sent once, it fits one server-sent event.
            fits = await client.call_tool(
                "compress_context", {"text": spaced(1_000_000), "engine": "structural"}
            )
            assert not fits.is_error
            assert structured(fits)["compressed"] is None
            # ~1.1 MB: over what the SDK's HTTP client accepts: a clear error, and it arrives.
            big = await client.call_tool(
                "compress_context", {"text": spaced(1_300_000), "engine": "structural"}
            )
            message = error_text(big)
            assert "it was not sent" in message and "streamable HTTP" in message
            # 2.5 MB of prose at rate 0.6 (the default rate, 0.49, sits near the line): refused
            # before any work.
            up_front = await client.call_tool(
                "compress_context", {"text": PLAIN * 16_000, "rate": 0.6}
            )
            assert "Nothing was compressed" in error_text(up_front)
            assert HTTP_EVENT_BYTES == 1024 * 1024
