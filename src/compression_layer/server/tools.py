"""The compression tools (thin async wrappers over the MCP-free core).

Each docstring is what the model reads when choosing a tool, so it says when to use the tool and
what comes back. Errors the caller can fix are raised as ``ToolError``: the client gets an
``isError`` result carrying the message, and the server keeps serving.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Annotated, Any

import anyio
import anyio.to_process
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

from compression_layer.compress.types import CompressionResult
from compression_layer.errors import CompressionLayerError, InputError
from compression_layer.server.models import (
    CompressContextResult,
    FileCompression,
    ValidationResult,
)
from compression_layer.server.security import resolve_in_roots
from compression_layer.server.state import ServerState

ServerContext = Context[ServerState, Any]


def state_of(ctx: ServerContext) -> ServerState:
    """The lifespan state of the running server."""
    state: ServerState = ctx.request_context.lifespan_context
    return state


@contextmanager
def as_tool_errors() -> Iterator[None]:
    """Turn the package's own errors into tool errors the model can read and act on."""
    try:
        yield
    except CompressionLayerError as exc:
        raise ToolError(str(exc)) from exc


async def _sources(
    state: ServerState, text: str | None, paths: list[str] | None
) -> list[tuple[str | None, str]]:
    from compression_layer.compress.inputs import check_text, read_path

    limit = state.settings.max_text_bytes
    if text is not None and paths:
        raise InputError("give either text or paths, not both")
    if text is not None:
        return [(None, check_text(text, max_bytes=limit, source="text"))]
    if not paths:
        raise InputError("nothing to compress: give text, or paths of files under the roots")
    out: list[tuple[str | None, str]] = []
    total = 0
    for raw in paths:
        resolved = resolve_in_roots(raw, state.roots)
        body = await anyio.to_thread.run_sync(partial(read_path, resolved, max_bytes=limit))
        total += len(body.encode("utf-8", errors="surrogatepass"))
        if total > limit:
            raise InputError(f"the files together exceed the {limit}-byte limit; send fewer")
        out.append((raw, body))
    return out


def _combine(results: list[tuple[str | None, CompressionResult]]) -> CompressContextResult:
    from compression_layer.tokens import count_tokens

    files = [
        FileCompression(
            path=label or "text",
            domain=r.domain,
            engine=r.engine,
            tokens_original=r.tokens_original,
            tokens_compressed=r.tokens_compressed,
            facts_missing=r.facts_missing,
        )
        for label, r in results
        if label is not None
    ]
    if len(results) == 1:
        return CompressContextResult(**results[0][1].model_dump(), files=files)
    compressed = "\n\n".join(f"=== {label} ===\n{r.compressed.rstrip()}" for label, r in results)
    n_orig = sum(r.tokens_original for _, r in results)
    n_comp = count_tokens(compressed)
    domains = {r.domain for _, r in results}
    engines = {r.engine for _, r in results}
    return CompressContextResult(
        compressed=compressed,
        engine=engines.pop() if len(engines) == 1 else "+".join(sorted(engines)),
        domain=domains.pop() if len(domains) == 1 else "mixed",
        tokens_original=n_orig,
        tokens_compressed=n_comp,
        ratio=round(n_comp / n_orig, 4) if n_orig else 1.0,
        latency_ms=round(sum(r.latency_ms for _, r in results), 3),
        facts_missing=[f"{label}: {f}" for label, r in results for f in r.facts_missing],
        adapter=next((r.adapter for _, r in results if r.adapter), None),
        notes=[f"{label}: {n}" for label, r in results for n in r.notes],
        files=files,
    )


# Engines whose loaded state lives in the server process (registry hot-swap), never in workers.
_IN_PROCESS_ENGINES = frozenset({"generative", "remote"})


async def _run_compress(
    state: ServerState, run: Callable[[], CompressionResult], body: str, engine: str | None = None
) -> CompressionResult:
    """Small texts in a thread; large ones in a worker process.

    A thread shares the GIL with the event loop, and one regex or tokenizer call over megabytes
    holds it for hundreds of milliseconds; a process keeps the loop answering other calls.
    """
    threshold = state.settings.process_min_bytes
    if engine in _IN_PROCESS_ENGINES:
        return await anyio.to_thread.run_sync(run, limiter=state.compress_limiter)
    if len(body) * 4 >= threshold and len(body.encode("utf-8", "surrogatepass")) >= threshold:
        return await anyio.to_process.run_sync(run, limiter=state.process_limiter)
    return await anyio.to_thread.run_sync(run, limiter=state.compress_limiter)


async def compress_context(
    ctx: ServerContext,
    text: Annotated[
        str | None,
        Field(description="The text to compress (prose, code, JSON, logs). Omit when using paths."),
    ] = None,
    paths: Annotated[
        list[str] | None,
        Field(
            description="Files to compress instead of text, absolute or relative to the server's "
            "root; they must lie inside the allowed roots. Saves echoing file contents."
        ),
    ] = None,
    engine: Annotated[
        str | None,
        Field(
            description="auto (default: structural for code/JSON/logs, extractive for prose), "
            "structural (lossless) or extractive; adapter_status lists the engines"
        ),
    ] = None,
    rate: Annotated[
        float | None,
        Field(gt=0.0, le=1.0, description="Fraction of tokens to keep for lossy engines, (0, 1]"),
    ] = None,
    target_tokens: Annotated[
        int | None, Field(gt=0, description="Token budget instead of a rate")
    ] = None,
    query: Annotated[
        str | None,
        Field(description="The question the context is for; lossy engines keep what answers it"),
    ] = None,
) -> CompressContextResult:
    """Compress context before putting it in a prompt: long documents, files, logs, JSON, code.

    Use it when text is large and only needs to be understood, not reproduced byte for byte.
    Code, JSON and logs are compressed losslessly by default; prose drops low-information words
    while keeping numbers, dates, names, URLs and identifiers. Pass `paths` to compress files
    without reading them into the conversation first. Returns the compressed text with the token
    counts before and after, the ratio, the engine used and any facts the compression lost.
    """
    state = state_of(ctx)
    with as_tool_errors():
        from compression_layer.compress.pipeline import compress, domain_for_path, engine_names

        if engine is not None and engine not in engine_names():
            choices = ", ".join(engine_names())
            raise InputError(f"unknown engine {engine!r}; choose one of {choices}")
        sources = await _sources(state, text, paths)
        snapshot = state.engines.current
        results: list[tuple[str | None, CompressionResult]] = []
        for label, body in sources:
            run = partial(
                compress,
                body,
                engine=engine,
                rate=rate,
                target_tokens=target_tokens,
                query=query,
                domain=domain_for_path(label) if label else None,
                settings=snapshot.settings,
            )
            results.append((label, await _run_compress(state, run, body, engine)))
        return _combine(results)


async def validate_compression(
    ctx: ServerContext,
    original: Annotated[str, Field(description="The text before compression")],
    compressed: Annotated[str, Field(description="The compressed text to check")],
    models: Annotated[
        list[str] | None,
        Field(
            description="Models to ask the same questions over both texts (e.g. claude, gpt, "
            "gemini); omit for the offline checks only, which need no API key"
        ),
    ] = None,
    questions: Annotated[
        list[str] | None,
        Field(description="Questions the compressed text must still answer like the original"),
    ] = None,
) -> ValidationResult:
    """Check whether a compressed text still carries what the original says.

    Use it before relying on a compression for something important. Always returns the token
    reduction, the facts (numbers, dates, identifiers) missing from the compressed text and the
    semantic similarity; with `models`, also asks those models the same questions over both texts
    and reports whether their answers agree (this calls external APIs and costs money).
    """
    from compression_layer.server.validate import run_validation

    state = state_of(ctx)
    with as_tool_errors():
        return await run_validation(state, original, compressed, models, questions)
