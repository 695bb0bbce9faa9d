"""Routing: detect the domain, pick an engine, guard the meaning once, return a typed result.

Engines come from an :class:`~compression_layer.compress.engines.EngineTable` (the caller's, or
the library default). ``auto`` sends code, JSON and logs through the structural engine
(lossless), prose through the extractive engine, and mixed markdown part by part. When the
extractive adapter cannot be loaded, ``auto`` falls back to structural and the result's
``engine`` field and ``notes`` say so.

Prose and mixed text longer than a chunk go to a lossy engine in chunks, one after another
(:mod:`~compression_layer.compress.chunks`), so memory stays bounded whatever the input size.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import PurePath

from compression_layer import tokens
from compression_layer.compress import facts, operators
from compression_layer.compress.chunks import CHUNK_CHARS, run_chunked
from compression_layer.compress.codeguard import check_code_output
from compression_layer.compress.domain import detect
from compression_layer.compress.engines import DEFAULT_ENGINES, EngineTable
from compression_layer.compress.guard import guard
from compression_layer.compress.inputs import check_budget, check_query, check_text
from compression_layer.compress.lossy import PROSE_SLACK, reduce
from compression_layer.compress.reversible import OriginalSink, accepts, budget_for
from compression_layer.compress.structural.data import settle_json, shared_parse
from compression_layer.compress.structural.engine import StructuralEngine
from compression_layer.compress.types import (
    CompressionResult,
    CompressRequest,
    Domain,
    Engine,
    EngineOutput,
)
from compression_layer.errors import EngineError, InputError
from compression_layer.settings import CompressSettings, load_area

# Rate of the lossy engines that carry no default of their own (generative, remote).
DEFAULT_RATE = 0.5


def _pick(
    engine: str, domain: Domain, settings: CompressSettings, table: EngineTable
) -> tuple[Engine, list[str]]:
    if engine != "auto":
        return table.make(engine, settings), []
    if domain.kind in ("code", "json", "log"):
        return StructuralEngine(), []
    try:
        return table.make("extractive", settings), []
    except EngineError as exc:
        return StructuralEngine(), [f"extractive engine unavailable, used structural: {exc}"]


_KINDS = ("prose", "code", "mixed", "json", "log")


def parse_domain(label: str) -> Domain:
    """``"code:python"`` -> Domain(kind="code", language="python"); unknown kinds are refused."""
    kind, _, language = label.strip().lower().partition(":")
    if kind not in _KINDS:
        raise InputError(f"unknown domain {label!r}; use one of {', '.join(_KINDS)} or code:<lang>")
    if language and kind != "code":
        raise InputError(f"only code takes a language, got {label!r}")
    return Domain(kind=kind, language=language or None)  # type: ignore[arg-type]


_SUFFIX_DOMAINS = {
    ".json": "json",
    ".jsonl": "json",
    ".ndjson": "json",
    ".log": "log",
    ".py": "code:python",
    ".pyi": "code:python",
}


def domain_for_path(name: str) -> str | None:
    """The domain a file extension promises, when it is unambiguous; else None (detect)."""
    return _SUFFIX_DOMAINS.get(PurePath(name).suffix.lower())


def _never_longer(original: str, out: EngineOutput, n_orig: int, n_comp: int) -> int:
    """An output at least as long as its input is no compression: return the input instead."""
    if n_comp < n_orig or out.text == original:
        return n_comp
    out.text = original
    out.notes.append(
        f"output ({n_comp} tokens) was not shorter than the input ({n_orig}): "
        "returned the input unchanged"
    )
    return n_orig


def compress(
    text: str,
    *,
    engine: str | None = None,
    rate: float | None = None,
    target_tokens: int | None = None,
    query: str | None = None,
    strip_docstrings: bool | None = None,
    domain: str | None = None,
    settings: CompressSettings | None = None,
    engines: EngineTable | None = None,
    originals: OriginalSink | None = None,
) -> CompressionResult:
    """Compress ``text`` and return a :class:`CompressionResult` (token counts in o200k_base).

    ``engine`` is ``auto`` (default), ``structural`` or ``extractive`` (plus any registered
    engine); ``rate`` is the fraction of tokens to keep for lossy engines, ``target_tokens`` an
    absolute budget instead; ``query`` focuses lossy engines on what is relevant to it.
    ``domain`` skips detection (``json``, ``log``, ``prose``, ``mixed``, ``code`` or
    ``code:<language>``), e.g. from a file extension; forced JSON that does not parse is an error.
    ``engines`` is the engine table to pick from (default: the library's own).

    ``originals`` (e.g. ``OriginalStore.open()``) turns on the reversible tier: when a budget is
    given and the lossless result is over it, the input is kept there and the domain's lossy
    pass leaves parts out behind markers ``[... omitted: retrieve <handle> ...]``; the result's
    ``handle`` names the kept original. Without it, JSON, logs and code stay lossless.
    """
    with shared_parse():  # the lossy JSON pass reuses the lossless pass's parse of ``text``
        return _compress(
            text,
            engine=engine,
            rate=rate,
            target_tokens=target_tokens,
            query=query,
            strip_docstrings=strip_docstrings,
            domain=domain,
            settings=settings,
            engines=engines,
            originals=originals,
        )


def _compress(
    text: str,
    *,
    engine: str | None,
    rate: float | None,
    target_tokens: int | None,
    query: str | None,
    strip_docstrings: bool | None,
    domain: str | None,
    settings: CompressSettings | None,
    engines: EngineTable | None,
    originals: OriginalSink | None,
) -> CompressionResult:
    cfg = settings or load_area(CompressSettings)
    check_budget(rate, target_tokens)
    check_text(text, max_bytes=cfg.max_input_bytes)
    query = check_query(query, max_chars=cfg.max_query_chars)
    started = time.perf_counter()
    found = parse_domain(domain) if domain else detect(text)
    request = CompressRequest(
        engine=engine or cfg.engine,
        rate=rate if rate is not None or target_tokens is not None else None,
        target_tokens=target_tokens,
        query=query,
        strip_docstrings=cfg.strip_docstrings if strip_docstrings is None else strip_docstrings,
    )
    budgeted = rate is not None or target_tokens is not None  # the caller named a budget
    chosen, notes = _pick(request.engine, found, cfg, engines or DEFAULT_ENGINES)
    if request.rate is None and request.target_tokens is None and chosen.name != "structural":
        own = getattr(chosen, "default_rate", None)  # engines that carry their own default
        rate = cfg.rate if cfg.rate is not None else own if own is not None else DEFAULT_RATE
        request = request.model_copy(update={"rate": rate})
    counting = tokens.count_tokens_later(text)  # on worker threads, while the engine runs
    lossy_domain = found.kind in ("code", "json", "log")
    if len(text) > CHUNK_CHARS and found.kind in ("prose", "mixed") and chosen.name != "structural":
        n_orig = counting.result()
        chunked = run_chunked(
            chosen, text, found, request, cfg, tokens=n_orig, max_chars=CHUNK_CHARS
        )
        out, lost, ops = chunked.output, chunked.facts_missing, chunked.operators_missing
        guarded = True
    else:
        out = chosen.run(text, found, request)
        if found.kind in ("code", "json") and not out.verified and out.text != text:
            # Code and data must still parse as they did: otherwise the input comes back as is.
            out.text, broke = check_code_output(text, out.text, found.language or found.kind)
            if broke:
                out.notes.append(broke)
        # A structural output's text does not depend on the guard: it can wait until we know
        # the lossless result is the one returned (the guard reads the whole input).
        guarded = not (lossy_domain and chosen.name == "structural")
        lost, ops = guard(text, out, cfg, found.kind) if guarded else ([], [])
    out.notes[:0] = notes
    n_orig = counting.result()
    budget = budget_for(n_orig, rate, target_tokens) if budgeted else None
    may_reduce = request.engine in ("auto", "structural") and originals is not None
    if budget is not None and lossy_domain and may_reduce and accepts(found):
        # Over the budget, a lossy output replaces this one: past the budget its count is only
        # needed when the lossy output is not clearly shorter (then it is counted exactly below).
        n_comp, exact = tokens.count_tokens_upto(out.text, budget)
    else:
        n_comp, exact = tokens.count_tokens(out.text), True
    if exact:
        n_comp = _never_longer(text, out, n_orig, n_comp)
    handle = None
    over = budget is not None and n_comp > budget * (1.0 if lossy_domain else PROSE_SLACK)
    if over and budget is not None and request.engine in ("auto", "structural"):
        if originals is None:
            if lossy_domain:
                out.notes.append(
                    f"{n_comp} tokens, over the budget of {budget}, kept lossless: give an "
                    "original store (originals=OriginalStore.open()) to leave parts out "
                    "retrievably"
                )
        elif accepts(found):
            squeeze = _squeezer(chosen, found, request) if not lossy_domain else None
            reduced = reduce(
                text, found, sink=originals, budget=budget, query=query, squeeze=squeeze
            )
            out.notes.extend(reduced.notes)
            n_lossy = tokens.count_tokens(reduced.output.text) if reduced.output else n_comp
            if reduced.output is not None and n_lossy >= n_comp and not exact:
                n_comp, exact = (
                    _never_longer(text, out, n_orig, tokens.count_tokens(out.text)),
                    True,
                )
            if reduced.output is not None and reduced.handle and n_lossy < n_comp:
                out.text, n_comp, handle, exact = reduced.output.text, n_lossy, reduced.handle, True
                out.notes = [n for n in out.notes if not n.endswith(_NOT_APPLIED)]
                out.notes.extend(reduced.output.notes)
                lost, ops = _left_out(text, out.text, reduced.handle, reduced.output.omitted, out)
                guarded = True
                if n_comp > budget:
                    out.notes.append(f"{n_comp} tokens: the least this pass keeps, over {budget}")
    if handle is None:  # the lossless output stands: the JSON round trip it left to now
        out.text, failed = settle_json(out.text)
        if failed:
            out.notes.append(failed)
            exact = False
    if not exact:  # the lossless output stands after all: its exact count
        n_comp = _never_longer(text, out, n_orig, tokens.count_tokens(out.text))
    if not guarded:
        lost, ops = guard(text, out, cfg, found.kind)
    if out.text == text:
        lost, ops = [], []
    latency = (time.perf_counter() - started) * 1000
    return CompressionResult(
        compressed=out.text,
        engine=out.engine,
        domain=found.label(),
        tokens_original=n_orig,
        tokens_compressed=n_comp,
        ratio=round(n_comp / n_orig, 4) if n_orig else 1.0,
        latency_ms=round(latency, 3),
        facts_missing=lost,
        operators_missing=ops,
        adapter=out.adapter,
        notes=out.notes,
        handle=handle,
    )


_NOT_APPLIED = "rate/target_tokens not applied"  # the structural engine's note, moot once lossy
FACT_CHECK_CHARS = 65_536
"""Facts and operators of a reversible result are listed for inputs up to this many characters.
The check reads the whole input at about 0.3 MB/s (0.96 s of a 1.5 s compression of 280 KB of
JSON), while the lossy passes aim at 20 MB/s; above it the notes say they were not listed, and
every omitted part stays retrievable."""
MAX_LISTED = 100


def _left_out(
    original: str, output: str, handle: str, omitted: int, out: EngineOutput
) -> tuple[list[str], list[str]]:
    """Facts and operators the output text lacks; all of them lie in retrievable parts."""
    out.notes.append(
        f"{omitted or 'some'} part(s) left out: retrieve {handle} with a marker's selector for "
        "that part, or with none for the whole original"
    )
    if len(original) > FACT_CHECK_CHARS:
        out.notes.append(
            f"facts and operators not listed (input over {FACT_CHECK_CHARS:,} characters); "
            "every omitted part is retrievable"
        )
        return [], []
    lost = facts.missing(original, output)
    ops = operators.missing(original, output)
    if lost or ops:
        out.notes.append(
            f"{len(lost)} fact(s) and {len(ops)} operator(s) are only in omitted parts "
            f"(retrievable with {handle}), not appended"
            + (f"; facts_missing lists the first {MAX_LISTED}" if len(lost) > MAX_LISTED else "")
        )
    return lost[:MAX_LISTED], ops


def _squeezer(
    engine: Engine, domain: Domain, request: CompressRequest
) -> Callable[[str, float], str] | None:
    """``squeeze(block, rate)``: one kept block through the word-level engine, for prose elision."""
    if engine.name == "structural":
        return None
    prose = Domain(kind="prose")

    def squeeze(block: str, rate: float) -> str:
        step = request.model_copy(update={"rate": min(1.0, max(rate, 0.01)), "target_tokens": None})
        return engine.run(block, prose, step).text

    del domain
    return squeeze
