"""Routing: detect the domain, pick an engine, apply the fact guard, return a typed result.

Engines live in a small name-keyed registry. ``auto`` sends code, JSON and logs through the
structural engine (lossless), prose through the extractive engine, and mixed markdown part by
part. When the extractive adapter cannot be loaded, ``auto`` falls back to structural and the
result's ``engine`` field and ``notes`` say so.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from compression_layer import tokens
from compression_layer.compress.inputs import check_text
from compression_layer.compress.types import CompressionResult, CompressRequest, Domain
from compression_layer.errors import EngineError, InputError
from compression_layer.settings import CompressSettings, load_area


@dataclass
class EngineOutput:
    text: str
    engine: str
    adapter: str | None = None
    notes: list[str] = field(default_factory=list)
    # A structural pass whose own check passed (AST / token stream / round trip equal): it only
    # removed comments, docstrings (when asked) and layout, never code, data or prose words.
    verified: bool = False


class Engine(Protocol):
    """What the pipeline needs from an engine: compress one text of a known domain."""

    name: str

    def run(self, text: str, domain: Domain, request: CompressRequest) -> EngineOutput: ...


class StructuralEngine:
    """Deterministic, lossless passes (code, JSON, logs, layout)."""

    name = "structural"

    def run(self, text: str, domain: Domain, request: CompressRequest) -> EngineOutput:
        from compression_layer.compress.structural import compress_structural

        out = compress_structural(text, domain, strip_docstrings=request.strip_docstrings)
        notes = list(out.notes)
        if request.rate is not None or request.target_tokens is not None:
            notes.append("structural engine is lossless: rate/target_tokens not applied")
        verified = bool(out.checks) and all(out.checks.values())
        return EngineOutput(out.text, self.name, notes=notes, verified=verified)


class ExtractiveAdapterEngine:
    """The learned keep/drop engine for prose; code/JSON/log parts still go structural."""

    name = "extractive"

    def __init__(self, model: Any) -> None:
        self.model = model

    @property
    def default_rate(self) -> float | None:
        """The rate the adapter's targets were measured at, used when a call names none."""
        rate = getattr(self.model, "default_rate", None)
        return float(rate) if rate is not None else None

    def _prose(self, text: str, request: CompressRequest, notes: list[str]) -> str:
        out = self.model.compress(
            text, rate=request.rate, target_tokens=request.target_tokens, query=request.query
        )
        for note in getattr(out, "notes", None) or []:
            if note not in notes:
                notes.append(note)
        return str(out.text)

    def run(self, text: str, domain: Domain, request: CompressRequest) -> EngineOutput:
        adapter = getattr(self.model, "adapter_name", None)
        notes: list[str] = []
        if domain.kind == "prose":
            return EngineOutput(self._prose(text, request, notes), self.name, adapter, notes)
        if domain.kind == "mixed":
            return EngineOutput(self._mixed(text, request, notes), self.name, adapter, notes)
        structural = StructuralEngine().run(text, domain, request)
        structural.notes.append(f"{domain.kind} input: routed to the structural engine")
        return structural

    def _mixed(self, text: str, request: CompressRequest, notes: list[str]) -> str:
        from compression_layer.compress.structural import compress_structural

        if request.target_tokens is not None:
            # One budget for the whole document: spread it over the prose parts as a rate.
            share = request.target_tokens / max(tokens.count_tokens(text), 1)
            request = request.model_copy(update={"rate": min(1.0, share), "target_tokens": None})
        out = compress_structural(
            text,
            Domain(kind="mixed"),
            strip_docstrings=request.strip_docstrings,
            prose=lambda part: self._prose(part, request, notes),
        )
        return out.text


_engine_lock = threading.Lock()
_extractive_cache: OrderedDict[str | None, Any] = OrderedDict()
# Adapters kept loaded: the one in service and the one before it (calls still in flight after a
# swap, or an immediate rollback). Older ones are dropped so repeated swaps do not grow memory.
EXTRACTIVE_CACHE_SIZE = 2


def load_extractive(adapter: str | None = None) -> Any:
    """Load (once per adapter path) the extractive model; raises EngineError naming the adapter."""
    with _engine_lock:
        if adapter in _extractive_cache:
            _extractive_cache.move_to_end(adapter)
            return _extractive_cache[adapter]
        from pathlib import Path

        from compression_layer.compress.extractive import ExtractiveEngine

        model = ExtractiveEngine.load(Path(adapter) if adapter else None)
        _extractive_cache[adapter] = model
        while len(_extractive_cache) > EXTRACTIVE_CACHE_SIZE:
            _extractive_cache.popitem(last=False)
        return model


def _structural(settings: CompressSettings) -> Engine:
    return StructuralEngine()


def _extractive(settings: CompressSettings) -> Engine:
    return ExtractiveAdapterEngine(load_extractive(settings.extractive_adapter))


def _generative(settings: CompressSettings) -> Engine:
    # Imported on first use: mlx-lm is an extra, and generative.py imports this module.
    from compression_layer.compress.generative import engine_from_settings

    return engine_from_settings(compress_settings=settings)


def _remote(settings: CompressSettings) -> Engine:
    from compression_layer.compress.remote import RemoteEngine

    return RemoteEngine(compress_settings=settings)


# Rate of the lossy engines that carry no default of their own (generative, remote).
DEFAULT_RATE = 0.5

ENGINES: dict[str, Callable[[CompressSettings], Engine]] = {
    "structural": _structural,
    "extractive": _extractive,
    "generative": _generative,
    "remote": _remote,
}


def register_engine(name: str, factory: Callable[[CompressSettings], Engine]) -> None:
    """Add or replace an engine (the generative and remote engines register here)."""
    ENGINES[name] = factory


def engine_names() -> list[str]:
    return ["auto", *sorted(ENGINES)]


def _pick(engine: str, domain: Domain, settings: CompressSettings) -> tuple[Engine, list[str]]:
    if engine != "auto":
        if engine not in ENGINES:
            raise InputError(
                f"unknown engine {engine!r}; choose one of {', '.join(engine_names())}"
            )
        return ENGINES[engine](settings), []
    if domain.kind in ("code", "json", "log"):
        return StructuralEngine(), []
    try:
        return ENGINES["extractive"](settings), []
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
    from pathlib import PurePath

    return _SUFFIX_DOMAINS.get(PurePath(name).suffix.lower())


def _guard(
    original: str, out: EngineOutput, settings: CompressSettings
) -> tuple[list[str], list[str]]:
    """Fact and operator guard: report what was lost; for lossy engines append it when configured.

    Lost facts are appended as a ``facts:`` line; a lost operator ("not", "unless", "more than")
    means nothing on its own, so the sentences of the original that hold it are appended instead.
    """
    from compression_layer.compress import facts, operators

    lost = facts.missing(original, out.text)
    ops = operators.missing(original, out.text)
    if (lost or ops) and out.verified:
        # The check proved code and data identical, so these lived only in comments or
        # stripped docstrings, which the structural engine drops by design: say so, in notes.
        out.notes.append(f"dropped with comments/docstrings: {'; '.join([*lost, *ops])}")
        return [], []
    if out.engine != "structural" and settings.fact_guard == "append":
        return append_lost(original, out, lost, ops)
    return lost, ops


def append_lost(
    original: str, out: EngineOutput, lost: list[str], ops: list[str]
) -> tuple[list[str], list[str]]:
    """Append what a lossy output lost; return what is still missing afterwards.

    A lost operator ("not", "unless") means nothing on its own, so the original sentences that
    hold it are appended; facts still missing after that go on one ``facts:`` line.
    """
    from compression_layer.compress import facts, operators

    if not lost and not ops:
        return [], []
    if ops:
        sentences = operators.sentences_with(original, ops)
        out.text = "\n".join([out.text.rstrip(), *sentences])
        out.notes.append(f"operator guard appended {len(sentences)} sentence(s) for {ops}")
        lost = facts.missing(original, out.text)  # the sentences may carry some of them
    if lost:
        out.text = f"{out.text.rstrip()}\nfacts: {'; '.join(lost)}"
        out.notes.append(f"fact guard appended {len(lost)} missing fact(s)")
    return facts.missing(original, out.text), operators.missing(original, out.text)


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
) -> CompressionResult:
    """Compress ``text`` and return a :class:`CompressionResult` (token counts in o200k_base).

    ``engine`` is ``auto`` (default), ``structural`` or ``extractive`` (plus any registered
    engine); ``rate`` is the fraction of tokens to keep for lossy engines, ``target_tokens`` an
    absolute budget instead; ``query`` focuses lossy engines on what is relevant to it.
    ``domain`` skips detection (``json``, ``log``, ``prose``, ``mixed``, ``code`` or
    ``code:<language>``), e.g. from a file extension; forced JSON that does not parse is an error.
    """
    cfg = settings or load_area(CompressSettings)
    if rate is not None and not 0.0 < rate <= 1.0:
        raise InputError(f"rate must be in (0, 1], got {rate}")
    if target_tokens is not None and target_tokens <= 0:
        raise InputError(f"target_tokens must be positive, got {target_tokens}")
    check_text(text, max_bytes=cfg.max_input_bytes)
    started = time.perf_counter()

    from compression_layer.compress.domain import detect

    found = parse_domain(domain) if domain else detect(text)
    request = CompressRequest(
        engine=engine or cfg.engine,
        rate=rate if rate is not None or target_tokens is not None else None,
        target_tokens=target_tokens,
        query=query,
        strip_docstrings=cfg.strip_docstrings if strip_docstrings is None else strip_docstrings,
    )
    chosen, notes = _pick(request.engine, found, cfg)
    if request.rate is None and request.target_tokens is None and chosen.name != "structural":
        own = getattr(chosen, "default_rate", None)  # engines that carry their own default
        rate = cfg.rate if cfg.rate is not None else own if own is not None else DEFAULT_RATE
        request = request.model_copy(update={"rate": rate})
    out = chosen.run(text, found, request)
    out.notes[:0] = notes
    if found.kind in ("code", "json") and not out.verified and out.text != text:
        # Code and data must still parse as they did: otherwise the input comes back unchanged.
        from compression_layer.compress.codeguard import check_code_output

        out.text, broke = check_code_output(text, out.text, found.language or found.kind)
        if broke:
            out.notes.append(broke)
    lost, ops = _guard(text, out, cfg)
    n_orig = tokens.count_tokens(text)
    n_comp = _never_longer(text, out, n_orig, tokens.count_tokens(out.text))
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
    )
