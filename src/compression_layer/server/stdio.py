"""The stdio transport: one JSON-RPC message per line, and every line gets an answer.

The SDK's ``stdio_server`` hands what it cannot parse to the session as an exception, which is
logged and dropped: a client that sent a lone surrogate, a 100k-deep array or a batch waits for
its own timeout. This transport reads the lines itself (bytes, at most ``limit`` per line),
checks each with ``wire.check_message`` and writes the refusals straight back, so only valid
messages reach the server and the server keeps serving after any of them.

While serving, fd 0 reads /dev/null and fd 1 goes to stderr (as in the SDK), so a library or a
child process that prints cannot corrupt the protocol.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, BinaryIO

import anyio
import anyio.from_thread
import anyio.lowlevel
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp.server.mcpserver import MCPServer
from mcp.shared.message import SessionMessage

from compression_layer.server.state import ServerState
from compression_layer.server.wire import Refusal, check_message, too_large

log = logging.getLogger(__name__)
# How much of an over-long line is kept to look for its id; the rest is read and dropped.
HEAD_BYTES = 65_536
DRAIN_CHUNK = 1 << 20
# How long the writer may take to flush the last answers once the server has stopped.
FLUSH_SECONDS = 5.0


class Line:
    """One line read from the client: its bytes, or only its head when it was over the limit."""

    __slots__ = ("data", "size")

    def __init__(self, data: bytes, size: int) -> None:
        self.data = data
        self.size = size


def read_line(stream: BinaryIO, limit: int) -> Line | None:
    """The next line (without its newline), reading at most ``limit + 1`` bytes of it into
    memory; ``None`` at end of input. An over-long line is drained to its end."""
    data = stream.readline(limit + 1)
    if not data:
        return None
    if data.endswith(b"\n") or len(data) <= limit:
        return Line(data.rstrip(b"\r\n"), len(data.rstrip(b"\r\n")))
    size = len(data)
    head = data[:HEAD_BYTES]
    while True:
        chunk = stream.readline(DRAIN_CHUNK)
        size += len(chunk)
        if not chunk or chunk.endswith(b"\n"):
            return Line(head, size - (1 if chunk.endswith(b"\n") else 0))


def _claim_std_fds() -> tuple[BinaryIO, BinaryIO, Callable[[], None]]:
    """Private duplicates of fd 0 and 1 for the protocol; fd 0 then reads /dev/null and fd 1
    writes to stderr until ``restore`` runs."""
    sys.stdout.flush()
    wire_in, wire_out = os.dup(0), os.dup(1)  # fds 0-2 are open, so these land above them
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)

    def restore() -> None:
        sys.stdout.flush()
        os.dup2(wire_in, 0)
        os.dup2(wire_out, 1)

    # closefd=False: the reader thread may still block on fd ``wire_in`` after we return.
    return (
        os.fdopen(wire_in, "rb", closefd=False),
        os.fdopen(wire_out, "wb", closefd=False),
        restore,
    )


def _start_reader(
    stdin: BinaryIO,
    limit: int,
    messages: MemoryObjectSendStream[SessionMessage | Exception],
    answers: MemoryObjectSendStream[SessionMessage],
) -> threading.Thread:
    """A daemon thread reading lines: a blocked read never holds up the process's exit."""
    token = anyio.lowlevel.current_token()

    async def deliver(line: Line | None) -> None:
        if line is None:
            messages.close()
            answers.close()
            return
        if line.size > limit:
            outcome: Any = too_large(line.size, limit, line.data)
        elif not line.data.strip():
            return  # a blank line is framing, not a message
        else:
            outcome = check_message(line.data)
        if isinstance(outcome, Refusal):
            log.info("refused a message: %s", outcome.message)
            await answers.send(SessionMessage(outcome.reply()))
        else:
            await messages.send(SessionMessage(outcome))

    def run() -> None:
        try:
            while True:
                try:
                    line = read_line(stdin, limit)
                except (OSError, ValueError) as exc:  # stdin closed under us
                    log.info("stdin unreadable: %s", exc)
                    line = None
                anyio.from_thread.run(deliver, line, token=token)
                if line is None:
                    return
        except (RuntimeError, anyio.ClosedResourceError, anyio.BrokenResourceError):
            return  # the server has stopped (its event loop is gone, or the streams closed)

    thread = threading.Thread(target=run, name="stdio-reader", daemon=True)
    thread.start()
    return thread


@asynccontextmanager
async def guarded_stdio(
    limit: int, stdin: BinaryIO | None = None, stdout: BinaryIO | None = None
) -> AsyncIterator[
    tuple[
        MemoryObjectReceiveStream[SessionMessage | Exception],
        MemoryObjectSendStream[SessionMessage],
    ]
]:
    """The (read, write) streams of a server on stdin/stdout (or the given binary streams)."""
    restore: Callable[[], None] | None = None
    if stdin is None or stdout is None:
        wire_in, wire_out, restore = _claim_std_fds()
        stdin, stdout = stdin or wire_in, stdout or wire_out
    out = stdout
    read_send, read_recv = anyio.create_memory_object_stream[SessionMessage | Exception](0)
    write_send, write_recv = anyio.create_memory_object_stream[SessionMessage](0)
    written = anyio.Event()

    def write(data: bytes) -> None:
        out.write(data)
        out.flush()

    async def writer() -> None:
        broken = False
        try:
            async with write_recv:
                async for item in write_recv:
                    if broken:
                        continue  # the client is gone: drain so the server never blocks
                    line = item.message.model_dump_json(by_alias=True, exclude_unset=True)
                    try:
                        await anyio.to_thread.run_sync(write, line.encode("utf-8") + b"\n")
                    except OSError as exc:
                        log.info("stdout closed: %s", exc)
                        broken = True
        finally:
            written.set()

    try:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(writer)
            _start_reader(stdin, limit, read_send, write_send.clone())
            try:
                yield read_recv, write_send
            finally:
                write_send.close()
                # Answers already queued go out; a reader still blocked on stdin is abandoned.
                with anyio.move_on_after(FLUSH_SECONDS, shield=True):
                    await written.wait()
                read_send.close()
                tasks.cancel_scope.cancel()
    finally:
        if restore is not None:
            restore()


class GuardedMCPServer(MCPServer[ServerState]):
    """The SDK's ``MCPServer`` whose stdio transport answers every line (``guarded_stdio``).

    ``message_limit`` caps one message in bytes on stdio (HTTP caps the request body).
    """

    def __init__(self, *args: Any, message_limit: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.message_limit = message_limit

    async def run_stdio_async(self) -> None:
        await self.serve_streams(None, None)

    async def serve_streams(self, stdin: BinaryIO | None, stdout: BinaryIO | None) -> None:
        """Serve one client over binary line streams (default: this process's stdin/stdout)."""
        # The low-level server is the SDK's own; MCPServer.run_stdio_async drives it the same way.
        lowlevel = self._lowlevel_server
        async with guarded_stdio(self.message_limit, stdin, stdout) as (read, write):
            await lowlevel.run(read, write, lowlevel.create_initialization_options())
