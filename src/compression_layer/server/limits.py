"""What one ``compress_context`` call may return: the plan of each source, and result sizes.

A transport that cannot carry a result loses it: the MCP SDK's streamable HTTP client refuses a
server-sent event over 1 MiB, so the client waits and gets an SSE error instead of the text. The
server therefore refuses such a result itself, with a message saying how to ask for less:

- up front, before any work, when the size is predictable: a lossy engine keeps about its rate
  of the input (``refuse_predicted``, from each source's ``SourcePlan``);
- once known otherwise (a lossless engine, or a guard that appended more): ``deliver``.

A large compressed text, or one that would not fit twice, is sent once, in the text content,
instead of in the text and the structured content (``deliver``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from mcp_types import CallToolResult

from compression_layer.compress.engines import EngineTable
from compression_layer.compress.inputs import human_bytes, utf8_size
from compression_layer.errors import CompressionLayerError, InputError
from compression_layer.server.models import CompressContextResult
from compression_layer.settings import CompressSettings, ServerSettings
from compression_layer.settings.areas import setting_name

# The MCP SDK's streamable HTTP client refuses a server-sent event over 1 MiB
# (mcp.client.streamable_http.DEFAULT_MAX_SSE_EVENT_SIZE): the result would never arrive. Its
# stdio client reads lines of any length, so stdio has no limit of its own.
HTTP_EVENT_BYTES = 1024 * 1024
# The JSON-RPC envelope and the event's own lines (event:, id:, data: ) around the result.
ENVELOPE_BYTES = 1024
# A compressed text up to this size is in the structured content too, unless twice would not fit
# the transport; a larger one is sent once, in the text content (structured ``compressed`` is
# then null and ``compressed_chars`` says how many characters of the text content it is).
INLINE_MAX_BYTES = 256 * 1024
# A lossy engine's output is at least this share of rate x input bytes (measured on SQuAD and
# NaturalQuestions prose, 100 KB pieces: 0.92-1.29 at rates 0.2-0.7), so a prediction over the
# limit is safe to refuse up front.
PREDICTION_FLOOR = 0.8


def result_limit(settings: ServerSettings, *, http: bool = False) -> int | None:
    """Largest result message (bytes) the transport delivers (``http``: the call came over
    HTTP, or the server serves HTTP); None: no limit."""
    if settings.max_result_bytes is not None:
        return settings.max_result_bytes
    return HTTP_EVENT_BYTES if http or settings.transport == "http" else None


def _limit_reason(settings: ServerSettings, limit: int) -> str:
    if settings.max_result_bytes is not None:
        return f"the {human_bytes(limit)} set by {setting_name(ServerSettings, 'max_result_bytes')}"
    return (
        f"the {human_bytes(limit)} one result can carry over streamable HTTP (MCP SDK clients "
        "refuse a server-sent event over 1 MiB; stdio has no such limit)"
    )


# The extractive engine's note when what it must keep is over the budget asked.
PROTECTED_NOTE = "protected facts, operators and layout need"
# What a result message holds besides the compressed text: the figures line, the structured
# fields (counts, notes, facts missing) and the envelope, for a prediction before the work.
RESULT_OVERHEAD_BYTES = 2048


def _ask_for_less(tokens: int, size: int, room: int) -> str:
    """A token budget whose text fits ``room`` bytes when ``tokens`` took ``size`` bytes, with
    headroom for what the meaning guard appends."""
    fit = max(1, int(tokens * max(room, 0) / max(size, 1) * 0.8))
    return f"target_tokens={fit} or lower"


# Fewest UTF-8 bytes per o200k token of a lossy output, for a ``target_tokens`` prediction
# (compressed English prose measured 3.8-4.3; dense CJK text or numbers have fewer).
BYTES_PER_TOKEN_FLOOR = 2.5


@dataclass(frozen=True)
class SourcePlan:
    """How ``compress()`` will treat one source, decided once before any work.

    ``domain`` is its label (from the file extension or detection), handed to ``compress()`` so
    it does not detect again; ``share`` the part of it a lossy engine keeps (None: lossless, the
    output size is not predictable); ``chunked`` whether it goes to a lossy engine in chunks.
    """

    domain: str
    share: float | None
    chunked: bool


def plan_sources(
    cfg: CompressSettings,
    table: EngineTable,
    sources: list[tuple[str | None, str]],
    engine: str | None,
    rate: float | None,
    target_tokens: int | None,
) -> list[SourcePlan]:
    """Each source's plan, decided as ``compress()`` decides: prose and mixed text to the lossy
    engine (unless ``structural`` is asked), at the rate asked, configured or the engine's own."""
    from compression_layer.compress.chunks import CHUNK_CHARS
    from compression_layer.compress.domain import detect
    from compression_layer.compress.pipeline import DEFAULT_RATE, domain_for_path, parse_domain

    name = engine or cfg.engine
    default: float | None = rate if rate is not None else cfg.rate
    plans: list[SourcePlan] = []
    for label, body in sources:
        forced = domain_for_path(label) if label else None
        found = parse_domain(forced) if forced else detect(body)
        if name == "structural" or found.kind not in ("prose", "mixed"):
            plans.append(SourcePlan(found.label(), None, False))
            continue
        if target_tokens is not None:
            share = min(1.0, target_tokens * BYTES_PER_TOKEN_FLOOR / max(utf8_size(body), 1))
        else:
            if default is None:
                default = _engine_default_rate(cfg, table, name) or DEFAULT_RATE
            share = default
        plans.append(SourcePlan(found.label(), share, len(body) > CHUNK_CHARS))
    return plans


def _engine_default_rate(cfg: CompressSettings, table: EngineTable, name: str) -> float | None:
    """The rate the engine keeps when a call names none (the extractive adapter's own)."""
    if name not in ("auto", "extractive"):
        return None  # generative engines load a model: their default is the pipeline's
    try:
        made = table.make("extractive", cfg)
    except CompressionLayerError:
        return None
    value = getattr(made, "default_rate", None)
    return float(value) if value is not None else None


def refuse_predicted(
    settings: ServerSettings,
    limit: int,
    sources: list[tuple[str | None, str]],
    plans: list[SourcePlan],
) -> None:
    """Refuse before any work when the lossy outputs alone would be over ``limit`` (a lossless
    engine's output size is not predictable: it is checked once known).

    A lossy output is at least its rate of the input, and at least what the engine keeps at any
    rate: the facts, operators and layout (estimated on samples, only when it could matter).
    """
    from compression_layer.compress.chunks import protected_share

    room = limit - RESULT_OVERHEAD_BYTES
    lossy = [
        (plan.share, utf8_size(body), body)
        for (_, body), plan in zip(sources, plans, strict=True)
        if plan.share is not None
    ]
    by_rate = sum(PREDICTION_FLOOR * share * n for share, n, _ in lossy)
    floor = 0.0
    if sum(n for _, n, _ in lossy) > room:  # else the outputs cannot be over, whatever they keep
        floor = sum(protected_share(body) * n for _, n, body in lossy)
    predicted = int(max(by_rate, floor))
    if predicted <= room:
        return
    total = sum(utf8_size(body) for _, body in sources)
    head = (
        f"the compressed text would be about {human_bytes(predicted)} or more, over "
        f"{_limit_reason(settings, limit)}. Nothing was compressed."
    )
    if floor > room:
        share = room / floor * 0.9
        raise InputError(
            f"{head} Even what a lossy engine keeps at any rate (facts, meaning operators, "
            f"layout) comes to about {human_bytes(int(floor))} of the {human_bytes(total)} "
            f"given, so a lower rate cannot help: send at most about {share:.0%} of this text "
            "per call"
        )
    from compression_layer.tokens import count_tokens

    tokens = sum(count_tokens(body) for _, body in sources)
    fit_rate = room / total / PREDICTION_FLOOR * 0.9
    raise InputError(
        f"{head} A lossy engine keeps about its rate of the {human_bytes(total)} given. Ask "
        f"for less: {_ask_for_less(tokens, total, room)}"
        + (f", or rate={fit_rate:.2f} or lower" if fit_rate >= 0.01 else "")
        + "; or send less text per call"
    )


def deliver(
    text: str,
    result: CompressContextResult,
    settings: ServerSettings,
    limit: int | None,
    build: Callable[[str, CompressContextResult], CallToolResult],
) -> CallToolResult:
    """The result message ``build`` makes, sending the compressed text once when it is large or
    when twice would not fit ``limit``; refused when even once does not fit."""
    if utf8_size(result.compressed or "") > INLINE_MAX_BYTES:
        _text_once(text, result)
    out = build(text, result)
    if limit is None:
        return out
    size = _message_bytes(out)
    if size + ENVELOPE_BYTES > limit and _text_once(text, result):
        out = build(text, result)
        size = _message_bytes(out)
    if size + ENVELOPE_BYTES <= limit:
        return out
    shown = utf8_size(text)  # the text content: what a smaller budget shrinks
    room = limit - ENVELOPE_BYTES - (size - shown)
    if any(PROTECTED_NOTE in note for note in result.notes):
        # The engine already kept only what it must (facts, operators, layout): less text helps,
        # a smaller budget does not.
        advice = f"send at most about {max(room, 0) / shown * 0.9:.0%} of this text per call"
    else:
        tokens = result.tokens_visible or result.tokens_compressed
        advice = f"ask for less: {_ask_for_less(tokens, shown, room)}, or send less text per call"
    raise InputError(
        f"the result is {human_bytes(size)} as one message, over "
        f"{_limit_reason(settings, limit)}; it was not sent. To fit, {advice}"
    )


def _text_once(text: str, result: CompressContextResult) -> bool:
    """Leave the compressed text in ``text`` only: structured ``compressed`` becomes null and
    ``compressed_chars`` says where it ends in ``text``. False when it is not there to point at
    (the text content holds the original) or already left out."""
    if result.compressed is None or result.text_form != "compressed":
        return False
    body = result.compressed.rstrip("\n")
    if not text.startswith(body):
        return False
    result.compressed = None
    result.compressed_chars = len(body)
    return True


def _message_bytes(out: CallToolResult) -> int:
    return len(out.model_dump_json(by_alias=True, exclude_none=True).encode("utf-8"))


# A retrieve result besides its text: handle, domain, selector, counts, the envelope.
RETRIEVE_OVERHEAD_BYTES = 1024


def refuse_large_retrieval(
    text: str, settings: ServerSettings, limit: int, selector: dict[str, str]
) -> None:
    """Refuse, before sending, a retrieved part the transport cannot carry; say what fits.

    The advice is line ranges counted within what ``selector`` selects (``lines`` narrows the
    selection), so asking for them one after another gets the whole part.
    """
    size = len(json.dumps(text, ensure_ascii=False).encode("utf-8"))
    if size + RETRIEVE_OVERHEAD_BYTES + ENVELOPE_BYTES <= limit:
        return
    n_lines = text.count("\n") + 1
    room = max(limit - RETRIEVE_OVERHEAD_BYTES - ENVELOPE_BYTES, 1)
    per_part = max(1, int(n_lines * room / size * 0.9))
    if "lines" in selector or n_lines == 1:
        advice = "ask for a smaller part (fewer lines or rows)"
    else:
        advice = (
            f"ask for it in pieces of about {per_part:,} lines: add lines=1-{per_part}, then "
            f"lines={per_part + 1}-{2 * per_part}, ... ({n_lines:,} lines in all)"
        )
    raise InputError(
        f"the retrieved part is {human_bytes(size)}, over {_limit_reason(settings, limit)}; it "
        f"was not sent. To fit, {advice}"
    )
