"""The reversible tier in the pipeline: keep the original, run the domain's lossy pass, check it.

:func:`reduce` is called by :func:`~compression_layer.compress.pipeline.compress` once the
lossless result is over the caller's budget. It keeps the original in the sink first (a sink
that fails means no lossy pass: the lossless result stands, with a note), runs the pass of the
domain (``reduce_json``, ``reduce_log``, ``reduce_code``, ``reduce_prose``), then checks the
output before anyone sees it: every marker names this handle, every marker's selector selects
from the original (through the sink's ``select`` when it has one), and Python that parsed still
parses. A pass that fails the check is dropped with a note; nothing unretrievable is returned.
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from compression_layer.compress.elide import reduce_prose
from compression_layer.compress.reversible import (
    MARKER_RE,
    LossyOutput,
    LossyPass,
    OriginalSink,
    selector_of,
)
from compression_layer.compress.structural.json_lossy import reduce_json
from compression_layer.compress.structural.log_lossy import reduce_log
from compression_layer.compress.structural.skeleton import reduce_code
from compression_layer.compress.types import Domain

PASSES: dict[str, LossyPass] = {
    "json": reduce_json,
    "log": reduce_log,
    "code": reduce_code,
    "prose": reduce_prose,
    "mixed": reduce_prose,
}
"""The lossy pass of each domain kind."""

PROSE_SLACK = 1.1
"""Prose and mixed text already went through a lossy engine: its elision runs only when that
output is over the budget by more than this factor."""


@runtime_checkable
class Selecting(Protocol):
    """A sink that can evaluate a selector on an original (the original store can)."""

    def select(self, original: str, domain: str, **selector: str) -> str: ...


class KeptLike(Protocol):
    @property
    def handle(self) -> str: ...

    @property
    def notes(self) -> tuple[str, ...]: ...


@runtime_checkable
class Keeping(Protocol):
    """A sink whose ``keep`` also reports what keeping did (evictions), for the result's notes."""

    def keep(self, text: str, *, domain: str) -> KeptLike: ...


@dataclass
class Reduced:
    """What the tier produced: a checked lossy output and its handle, or None with notes why."""

    output: LossyOutput | None
    handle: str | None = None
    notes: list[str] = field(default_factory=list)


def keep_original(sink: OriginalSink, text: str, domain: str) -> tuple[str, list[str]]:
    """Store ``text`` in ``sink``: its handle and the sink's notes. Raises what the sink raises."""
    if isinstance(sink, Keeping):
        kept = sink.keep(text, domain=domain)
        return kept.handle, list(kept.notes)
    return sink.put(text, domain=domain), []


def reduce(
    text: str,
    domain: Domain,
    *,
    sink: OriginalSink,
    budget: int,
    query: str | None,
    squeeze: Callable[[str, float], str] | None = None,
) -> Reduced:
    """Keep ``text``, run its domain's lossy pass within ``budget`` tokens, check the output."""
    lossy = PASSES.get(domain.kind)
    if lossy is None:
        return Reduced(None)
    try:
        handle, notes = keep_original(sink, text, domain.label())
    except Exception as exc:  # any sink failure means: stay lossless
        reason = f"{type(exc).__name__}: {str(exc)[:200]}"
        return Reduced(None, notes=[f"original store unavailable ({reason}): kept lossless"])
    kwargs: dict[str, object] = {"budget": budget, "query": query, "handle": handle}
    if squeeze is not None and "squeeze" in inspect.signature(lossy).parameters:
        kwargs["squeeze"] = squeeze
    output = lossy(text, domain, **kwargs)
    if output is None or output.text == text:
        return Reduced(None, notes=notes)
    problem = check(text, domain, output.text, handle, sink)
    if problem:
        return Reduced(None, notes=[*notes, f"lossy {domain.kind} pass dropped: {problem}"])
    return Reduced(output, handle, notes)


def check(original: str, domain: Domain, output: str, handle: str, sink: OriginalSink) -> str:
    """Why ``output`` may not be returned, or ``""``: markers that do not retrieve, broken code."""
    select = sink.select if isinstance(sink, Selecting) else None
    found = 0
    for match in MARKER_RE.finditer(output):
        found += 1
        if match.group("handle") != handle:
            return f"a marker names {match.group('handle')}, not this original's {handle}"
        if select is not None:
            try:
                part = select(original, domain.label(), **selector_of(match))
            except Exception as exc:  # an error here is the finding
                return f"marker {match.group(0)!r} does not retrieve: {exc}"
            if not part and match.group("selector"):
                return f"marker {match.group(0)!r} retrieves nothing"
    if not found and domain.kind not in ("prose", "mixed"):  # prose was lossy already
        return "it left no marker, so what it dropped could not be retrieved"
    python = domain.kind == "code" and (domain.language or "").lower() in ("python", "py")
    if python and _parses(original) and not _parses(output):
        return "the Python it returned does not parse"
    return ""


def _parses(source: str) -> bool:
    try:
        ast.parse(source)
    except (SyntaxError, ValueError):
        return False
    return True
