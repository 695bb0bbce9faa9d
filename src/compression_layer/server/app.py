"""Build the MCP server: lifespan (engines, embedder, memory store created once), tools, resources.

``build_server()`` returns an ``MCPServer`` usable in-process (tests, the SDK's in-memory client);
``serve_stdio()`` / ``serve_http()`` in ``server/transports.py`` run it on a transport.
"""

from __future__ import annotations

import gc
import inspect
import logging
import os
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Any

import anyio
from mcp.server.mcpserver import MCPServer
from mcp_types import ToolAnnotations

from compression_layer.server import documents_tool as dt
from compression_layer.server import memory_admin as ma
from compression_layer.server import memory_tools as mt
from compression_layer.server import retrieve_tool as rt
from compression_layer.server import tools as ct
from compression_layer.server.resources import register_resources
from compression_layer.server.security import effective_roots
from compression_layer.server.state import EngineState, ServerState
from compression_layer.server.stdio import GuardedMCPServer
from compression_layer.server.wire import message_limit
from compression_layer.settings import (
    CompressSettings,
    MemorySettings,
    ServerSettings,
    load_area,
)

log = logging.getLogger(__name__)
NAME = "compression-layer"
INSTRUCTIONS = (
    "Context compression and compressed long-term memory. Use compress_context on large text or "
    "files before reasoning over them; memory_store / memory_search to keep and recall facts "
    "across conversations; validate_compression to check a compression kept what matters."
)
MemoryFactory = Callable[[ServerState], AbstractAsyncContextManager[Any]]

# (tool, title, read_only, destructive, idempotent, open_world): set truthfully, clients use them
# to decide what needs the user's confirmation.
TOOLS: list[tuple[Callable[..., Any], str, bool, bool, bool, bool]] = [
    # open world: engine="remote" sends the text to a configured endpoint.
    (ct.compress_context, "Compress context", True, False, True, True),
    # open world: with `models` it calls external model APIs.
    (ct.validate_compression, "Validate a compression", True, False, True, True),
    (dt.compress_documents, "Compress documents to a budget", True, False, True, False),
    (mt.memory_store, "Store a memory", False, False, False, False),
    (mt.memory_search, "Search memories", True, False, True, False),
    (mt.memory_get, "Get a memory", True, False, True, False),
    (mt.memory_delete, "Delete a memory", False, True, True, False),
    (mt.memory_list, "List memories", True, False, True, False),
    (ma.memory_update, "Update a memory", False, False, False, False),
    (ma.memory_history, "Memory history", True, False, True, False),
    (ma.memory_namespaces, "Memory namespaces", True, False, True, False),
    (mt.adapter_status, "Adapter status", True, False, True, False),
    (rt.retrieve, "Retrieve omitted parts", True, False, True, False),
]


def quiet_libraries() -> None:
    """No progress bars or chatty library output: on stdio, stdout is the protocol."""
    for key, value in {
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "TQDM_DISABLE": "1",
        "TRANSFORMERS_VERBOSITY": "error",
        "TOKENIZERS_PARALLELISM": "false",
    }.items():
        os.environ.setdefault(key, value)


@asynccontextmanager
async def default_memory(state: ServerState) -> AsyncIterator[Any]:
    """Open the SQLite memory store under the data dir with the shared embedder.

    Memories are compressed with the server's current engine snapshot, so a swapped adapter
    applies to memory writes too.
    """
    from compression_layer.memory import MemoryStore, default_db_path
    from compression_layer.memory.compressing import DefaultCompressor

    # Batched: a memory_store call with several memories runs one encoder pass over all of them.
    compressor = DefaultCompressor(lambda: state.engines.current.settings)
    settings = load_area(MemorySettings)
    # No embedder argument: the store's default is the process-wide MiniLM on ONNX Runtime
    # (loaded once, by the lifespan's warm-up thread), the vector space of the `memory` CLI.
    async with MemoryStore.open(
        settings.db_url or default_db_path(settings), settings=settings, compressor=compressor
    ) as store:
        yield store


def warm_up(state: ServerState) -> None:
    """Load the adapters (extractive, generative if promoted) and MiniLM once, in a background
    thread, then signal.

    The server answers `initialize` meanwhile: loading the encoders (and exporting them to ONNX
    on a first run) takes seconds, longer than a client should wait for the handshake.
    """
    from compression_layer.embeddings import warm

    try:
        if state.adapters is not None:
            state.adapters.load_initial()  # failures are recorded for adapter_status
        warm()
    except Exception as exc:  # a tool call reports the failure with its own context
        log.warning("warm-up failed: %s", exc)
    finally:
        # The models' objects live as long as the server: move them out of the collector's
        # generations, so a full collection during a long chunked compression does not walk
        # them (about 130 ms pauses of the event loop every few chunks without this).
        gc.freeze()
        state.warmed.set()


def build_server(
    settings: ServerSettings | None = None,
    *,
    compress_settings: CompressSettings | None = None,
    memory: MemoryFactory | None = None,
    warm: bool = True,
    on_ready: Callable[[ServerState], None] | None = None,
) -> MCPServer[ServerState]:
    """The MCP server with every tool and resource; nothing heavy happens until it starts.

    ``memory`` opens the memory store for the lifespan (default: SQLite under the data dir);
    ``warm`` loads the extractive engine and MiniLM in the background from the start, so the
    first call does not pay for them (without it they load on first use);
    ``on_ready`` runs once everything is loaded (the HTTP banner is printed from there).
    """
    cfg = settings or load_area(ServerSettings)
    engine_cfg = compress_settings or load_area(CompressSettings)
    open_memory = memory or default_memory

    @asynccontextmanager
    async def lifespan(_: MCPServer[ServerState]) -> AsyncIterator[ServerState]:
        quiet_libraries()
        state = ServerState(
            settings=cfg,
            engines=EngineState(engine_cfg),
            roots=effective_roots(cfg.roots),
            compress_limiter=anyio.CapacityLimiter(cfg.compress_workers),
            process_limiter=anyio.CapacityLimiter(
                max(1, min(cfg.compress_workers, os.cpu_count() or 1))
            ),
        )
        from compression_layer.compress.engines import DEFAULT_ENGINES
        from compression_layer.server.swap import ServerAdapters

        # One slot per adapter kind: what each serves, and the swaps the registry watcher makes.
        state.adapters = adapters = ServerAdapters(state)
        # This server's own table: its generative engine is the generative slot's; the library's
        # default table is left as it was. (Extractive calls name their adapter in the settings
        # snapshot the extractive slot installs, which worker processes can follow too.)
        state.engine_table = DEFAULT_ENGINES.copy(
            generative=lambda _cs: adapters.generative_engine()
        )
        stop_watching = anyio.Event()
        async with AsyncExitStack() as stack:
            tasks = await stack.enter_async_context(anyio.create_task_group())
            stack.callback(stop_watching.set)  # runs before the task group waits for the watcher
            tasks.start_soon(adapters.watch, stop_watching)
            if warm:
                threading.Thread(target=warm_up, args=(state,), name="warm-up", daemon=True).start()
            else:
                state.warmed.set()
            try:
                # Opened once; the file itself opens on first use (a budgeted compression).
                state.originals = rt.open_store(cfg.transport)
                if state.originals is not None:
                    stack.callback(state.originals.close)
            except Exception as exc:  # compressions stay lossless without it
                log.warning("original store unavailable: %s", type(exc).__name__)
            try:
                state.memory = await stack.enter_async_context(open_memory(state))
            except Exception as exc:  # the compression tools stay usable without memory
                log.warning("memory store unavailable: %s", exc)
                state.memory_error = str(exc)
            log.info("compression-layer ready (roots: %s)", ", ".join(map(str, state.roots)))
            if on_ready is not None:
                on_ready(state)
            yield state

    # Its stdio transport answers every line, malformed ones included (server/stdio.py).
    server: MCPServer[ServerState] = GuardedMCPServer(
        NAME,
        message_limit=message_limit(cfg),
        title="Compression layer",
        instructions=INSTRUCTIONS,
        version=_version(),
        lifespan=lifespan,
        log_level=cfg.log_level,
    )
    for fn, title, read_only, destructive, idempotent, open_world in TOOLS:
        hints = ToolAnnotations(
            title=title,
            read_only_hint=read_only,
            destructive_hint=destructive,
            idempotent_hint=idempotent,
            open_world_hint=open_world,
        )
        # cleandoc: the docstring is the description the model reads, without source indentation.
        description = inspect.cleandoc(fn.__doc__ or "")
        server.add_tool(
            fn, title=title, description=description, annotations=hints, structured_output=True
        )
    register_resources(server)  # type: ignore[arg-type]
    return server


def _version() -> str:
    from compression_layer import __version__

    return __version__
