"""The compression tools (thin async wrappers over the MCP-free core).

Each docstring is what the model reads when choosing a tool, so it says when to use the tool and
what comes back. Errors the caller can fix are raised as ``ToolError``: the client gets an
``isError`` result carrying the message, and the server keeps serving.

Every tool returns a ``CallToolResult`` annotated with its pydantic model: the text content is
what the model reads and is kept short (a tool that saves tokens must not spend them on its own
envelope); the structured content is the full object, validated against the advertised schema.

``compress_context`` takes the same input limits as ``compress()`` and the CLI (the compress
area's settings) and never sends a result its transport cannot carry (:mod:`.limits`).
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
from mcp_types import CallToolResult, TextContent
from pydantic import BaseModel, Field

from compression_layer.compress.inputs import (
    INPUT_SETTING,
    check_query,
    check_text,
    human_bytes,
    utf8_size,
)
from compression_layer.compress.types import CompressionResult
from compression_layer.errors import CompressionLayerError, InputError
from compression_layer.server.limits import (
    SourcePlan,
    deliver,
    plan_sources,
    refuse_predicted,
    result_limit,
)
from compression_layer.server.models import (
    CompressContextResult,
    FileCompression,
    ValidationResult,
)
from compression_layer.server.security import read_in_roots
from compression_layer.server.state import ServerState
from compression_layer.settings import CompressSettings, ServerSettings
from compression_layer.settings.areas import setting_name

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
    state: ServerState, cfg: CompressSettings, text: str, paths: list[str] | None
) -> list[tuple[str | None, str]]:
    """The texts to compress, each and all together within ``cfg.max_input_bytes``."""
    limit = cfg.max_input_bytes
    if text and paths:
        raise InputError("give either text or paths, not both")
    if text:
        return [(None, check_text(text, max_bytes=limit, source="text"))]
    if not paths:
        raise InputError("nothing to compress: give text, or paths of files under the roots")
    if len(paths) > state.settings.max_paths:
        raise InputError(
            f"{len(paths)} paths, over the limit of {state.settings.max_paths} per call: send "
            f"fewer (set {setting_name(ServerSettings, 'max_paths')} to raise it)"
        )
    out: list[tuple[str | None, str]] = []
    total = 0
    for raw in paths:
        read = partial(read_in_roots, raw, state.roots, max_bytes=limit)
        body = await anyio.to_thread.run_sync(read)
        total += utf8_size(body)
        if total > limit:
            raise InputError(
                f"the files together are over the {human_bytes(limit)} limit (set "
                f"{INPUT_SETTING} to raise it); send fewer per call"
            )
        out.append((raw, body))
    return out


def over_http(ctx: ServerContext) -> bool:
    """Whether this call came over HTTP (the transport attached its HTTP request)."""
    return getattr(ctx.request_context, "request", None) is not None


def tool_result(text: str, structured: BaseModel) -> CallToolResult:
    """What the model reads (``text``) apart from what the application gets (the full model)."""
    return CallToolResult(
        content=[TextContent(type="text", text=text)],
        structured_content=structured.model_dump(mode="json"),
    )


def clip(text: str, limit: int = 40) -> str:
    """One line of at most ``limit`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def listing(label: str, items: list[str], shown: int, limit: int = 40) -> str:
    """``label: a, b +3 more``; with ``shown=0`` only the count."""
    if shown <= 0:
        return f"{label}: {len(items)}"
    head = ", ".join(clip(i, limit) for i in items[:shown])
    more = len(items) - min(shown, len(items))
    return f"{label}: {head}" + (f" +{more} more" if more else "")


# The figures line may add at most this many tokens to the engine's output (o200k_base).
FIGURES_BUDGET = 40


def figures_line(result: CompressContextResult, shown: int) -> str:
    """``[compressed 412→198 tokens, extractive; facts missing: …]`` (o200k counts): lists only what
    is present, at most ``shown`` items each."""
    parts = [
        f"compressed {result.tokens_original}→{result.tokens_compressed} tokens, {result.engine}"
    ]
    operators = list(getattr(result, "operators_missing", None) or [])
    handle = getattr(result, "handle", None)
    if handle:
        # Facts and operators the output lacks lie in the omitted parts: counted, not listed
        # as lost; the notes about the handle say what the markers already say.
        parts.append(f"omitted parts: retrieve tool, handle {handle}")
        facts_label, ops_label, shown_lost = "facts in omitted parts", "operators there", 0
        notes = [n for n in result.notes if handle not in n]
    else:
        facts_label, ops_label, shown_lost = "facts missing", "operators missing", shown
        notes = result.notes
    for label, items, count in (
        (facts_label, result.facts_missing, shown_lost),
        (ops_label, operators, shown_lost),
        ("notes", notes, shown),
    ):
        if items and (count or label != "notes"):  # "notes: 2" alone tells the model nothing
            parts.append(listing(label, items, count, 40 if label != "notes" else 60))
    return "[" + "; ".join(parts) + "]"


def compression_text(result: CompressContextResult, original: str) -> str:
    """The tool's text content: the compressed text plus one line of figures.

    The line lists what was lost (fewer items until it fits in ``FIGURES_BUDGET`` tokens, or
    only the counts). When the compressed text and its line would not be shorter than the
    original, the original itself is returned instead, without a line: lossless and no dearer.
    Sets ``result.text_form`` and ``result.tokens_visible`` to match.
    """
    from compression_layer.tokens import count_tokens

    body = (result.compressed or "").rstrip("\n")
    text = body
    for shown in (3, 2, 1, 0):
        line = figures_line(result, shown)
        # +1: the newline, and BPE merges at the seam can only save tokens, not add many.
        if count_tokens(line) + 1 <= FIGURES_BUDGET:
            text = f"{body}\n{line}"
            break
    visible = count_tokens(text)
    if visible > result.tokens_compressed + FIGURES_BUDGET:  # a seam that cost more: no line
        text, visible = body, count_tokens(body)
    n_original = count_tokens(original)
    if visible >= n_original:
        text, visible = original, n_original
        result.text_form = "original"
    else:
        result.text_form = "compressed"
    result.tokens_visible = visible
    return text


def _score(value: Any) -> str:
    return f"{value:.2f}" if isinstance(value, int | float) else "n/a"


def _verdict(passed: Any) -> str:
    return "pass" if passed is True else "fail" if passed is False else "undecided"


def validation_text(result: ValidationResult) -> str:
    """The figures on one line, then one line per model asked, then the overall verdict."""
    head = (
        f"{result.tokens_original}→{result.tokens_compressed} tokens (o200k, ratio "
        f"{result.ratio:.2f}); similarity {_score(result.similarity)}; "
    )
    facts = result.facts_missing
    head += listing("facts missing", facts, 5) if facts else "no facts missing"
    operators = list(getattr(result, "operators_missing", None) or [])
    if operators:
        head += "; " + listing("operators missing", operators, 5)
    if not getattr(result, "passed", True):
        head += "; FAILED: meaning lost" if facts or operators else "; FAILED"
    lines = [head]
    report = result.cross_model or {}
    if not report.get("offline_only") and report.get("models"):
        for model in report["models"]:
            name = model.get("model", "?")
            if model.get("error"):
                lines.append(f"{name}: error: {clip(str(model['error']), 80)}")
            else:
                lines.append(
                    f"{name}: answers agree {_score(model.get('mean'))} "
                    f"(min {_score(model.get('min'))}), {_verdict(model.get('passed'))}"
                )
        cost = float(report.get("cost_usd") or 0.0)
        lines.append(
            f"overall: {_verdict(report.get('passed'))} at threshold "
            f"{_score(report.get('threshold'))}, ${cost:.4f}"
        )
    if result.notes:
        lines.append(listing("notes", result.notes, 2, 100))
    return "\n".join(lines)


def _original_view(sources: list[tuple[str | None, str]]) -> str:
    """The sources as the model would read them uncompressed (several files under headers)."""
    if len(sources) == 1:
        return sources[0][1]
    return "\n\n".join(f"=== {label} ===\n{body.rstrip()}" for label, body in sources)


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
            operators_missing=list(getattr(r, "operators_missing", None) or []),
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
        operators_missing=[
            f"{label}: {o}"
            for label, r in results
            for o in getattr(r, "operators_missing", None) or []
        ],
        adapter=next((r.adapter for _, r in results if r.adapter), None),
        notes=[f"{label}: {n}" for label, r in results for n in r.notes],
        files=files,
    )


# Engines whose loaded state lives in the server process (registry hot-swap), never in workers.
_IN_PROCESS_ENGINES = frozenset({"generative", "remote"})


async def _run_compress(
    state: ServerState,
    run: Callable[[], CompressionResult],
    body: str,
    engine: str | None,
    plan: SourcePlan,
) -> CompressionResult:
    """Small texts in a thread; large ones in a worker process, unless they go in chunks.

    A thread shares the GIL with the event loop, and one regex or tokenizer call over megabytes
    holds it for hundreds of milliseconds; a process keeps the loop answering other calls. Text
    compressed in chunks never holds it that long (every step sees one chunk), so it runs in a
    thread too, on the engine this process already holds: a worker process would load a second
    copy of the engine (about 0.8 GB resident) for it.
    """
    threshold = state.settings.process_min_bytes
    if engine in _IN_PROCESS_ENGINES or plan.chunked:
        return await anyio.to_thread.run_sync(run, limiter=state.compress_limiter)
    if len(body) * 4 >= threshold and utf8_size(body) >= threshold:
        return await anyio.to_process.run_sync(run, limiter=state.process_limiter)
    return await anyio.to_thread.run_sync(run, limiter=state.compress_limiter)


async def compress_context(
    ctx: ServerContext,
    # Plain `str`, not `str | None`: the SDK parses JSON-looking strings for any other annotation
    # (a courtesy for clients that send lists as strings), which turned JSON text into a dict.
    text: Annotated[
        str,
        Field(description="The text to compress (prose, code, JSON, logs). Omit when using paths."),
    ] = "",
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
        str,
        Field(description="The question the context is for; lossy engines keep what answers it"),
    ] = "",
) -> Annotated[CallToolResult, CompressContextResult]:
    """Compress context before putting it in a prompt: long documents, files, logs, JSON, code.

    Use it when text is large and only needs to be understood, not reproduced byte for byte.
    Code, JSON and logs are compressed losslessly by default; prose drops low-information words
    while keeping numbers, dates, names, URLs and identifiers. Pass `paths` to compress files
    without reading them into the conversation first. With `rate` or `target_tokens`, JSON,
    logs and code over the budget leave parts out behind markers like
    `[47 rows omitted: retrieve o_3fa9c2d1e0 path=$.items rows=5-51]`: call retrieve with that
    handle and selector to get them back exactly. Returns the compressed text, then one line in
    brackets: tokens before and after, the engine, and any facts or operators (not, may,
    unless...) it lost. If compressing would not save tokens, returns the original unchanged.
    """
    state = state_of(ctx)
    with as_tool_errors():
        from compression_layer.compress.pipeline import compress

        table = state.engine_table
        if engine is not None and engine not in table:
            choices = ", ".join(table.names())
            raise InputError(f"unknown engine {engine!r}; choose one of {choices}")
        snapshot = state.engines.current
        cfg = snapshot.settings
        query = check_query(query, max_chars=cfg.max_query_chars) or ""
        sources = await _sources(state, cfg, text, paths)
        plans = await anyio.to_thread.run_sync(
            partial(plan_sources, cfg, table, sources, engine, rate, target_tokens)
        )
        limit = result_limit(state.settings, http=over_http(ctx))
        if limit is not None:
            await anyio.to_thread.run_sync(refuse_predicted, state.settings, limit, sources, plans)
        results: list[tuple[str | None, CompressionResult]] = []
        for (label, body), plan in zip(sources, plans, strict=True):
            run = partial(
                compress,
                body,
                engine=engine,
                rate=rate,
                target_tokens=target_tokens,
                query=query or None,
                domain=plan.domain,
                settings=cfg,
                # Engines held by this process (registry hot-swap) need the server's table; worker
                # processes only run the default table's lossless and extractive engines.
                engines=table if engine in _IN_PROCESS_ENGINES else None,
                # With a budget, over-budget JSON, logs and code leave parts out behind markers
                # the retrieve tool answers (the store pickles to a worker as its settings).
                originals=state.originals if rate or target_tokens else None,
            )
            results.append((label, await _run_compress(state, run, body, engine, plan)))
        combined = _combine(results)
        # Token counts of up to a few MB: off the event loop like the compression itself.
        text = await anyio.to_thread.run_sync(compression_text, combined, _original_view(sources))
        return await anyio.to_thread.run_sync(
            deliver, text, combined, state.settings, limit, tool_result
        )


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
) -> Annotated[CallToolResult, ValidationResult]:
    """Check whether a compressed text still carries what the original says.

    Use it before relying on a compression for something important. Always returns the token
    reduction, the facts (numbers, dates, identifiers) and the meaning operators (not, never,
    may, must, unless, more than, at least, '?') missing from the compressed text, and the
    semantic similarity; a lost fact or operator fails the check. With `models`, also asks
    those models the same questions over both texts and reports whether their answers agree
    (this calls external APIs and costs money). Returns a few short lines: the figures, then
    one per model asked.
    """
    from compression_layer.server.validate import run_validation

    state = state_of(ctx)
    with as_tool_errors():
        result = await run_validation(state, original, compressed, models, questions)
        return tool_result(validation_text(result), result)
