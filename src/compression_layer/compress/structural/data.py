"""Meaning-preserving pass for data: JSON (and JSON Lines).

JSON compact form
-----------------
Minified (no whitespace, non-ASCII kept as is), key order and duplicate keys preserved, every
number written with its original text (``1.10`` stays ``1.10``, ``1e400`` never becomes ``inf``,
big integers stay exact). An array of two or more objects becomes a table when that is shorter
(see :mod:`.json_table`)::

    [{"id":1,"name":"a"},{"id":2,"name":"b"},{"id":3,"name":"c","tag":"x"}]
    [3]{id,name,tag}
    1,a,
    2,b,
    3,c,x

JSON Lines come back from ``json_expand`` as a list. ``json_expand(out) == json.loads(original)``
is checked (on exact number texts) before a result is returned.

Logs have their own module, :mod:`.logs`.
"""

from __future__ import annotations

import gc
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from compression_layer.compress.structural.json_table import (
    Layout,
    dump,
    exact_loads,
    exact_scan,
    loads,
    plain,
)
from compression_layer.compress.structural.output import StructuralOutput
from compression_layer.errors import InputError


def _output(text: str, checks: dict[str, bool], notes: list[str]) -> StructuralOutput:
    return StructuralOutput(text=text, checks=checks, notes=notes)


def load_document(text: str) -> tuple[Any, bool]:
    """Parse JSON or JSON Lines exactly; returns (value, is_jsonl). Raises InputError."""
    try:
        return exact_loads(text), False
    except json.JSONDecodeError as exc:
        if exc.msg != "Extra data":
            raise InputError(f"invalid JSON: {exc}") from exc
    fast = _jsonl_fast(text)
    if fast is not None:
        return fast, True
    values = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            values.append(exact_loads(line))
        except json.JSONDecodeError as exc:
            raise InputError(
                f"invalid JSON Lines: line {number}: {exc.msg}: column {exc.colno}"
            ) from exc
    return values, True


_LINE_GAP = re.compile(r"[ \t\r]*")
_GAP_CHARS = frozenset(" \t\r")


def _jsonl_fast(text: str) -> list[Any] | None:
    """JSON Lines read value after value from the whole text (no split, one scanner call per
    line); None as soon as anything differs from clean JSON Lines, for the line-by-line reader
    (which also words the errors). What it accepts, that reader reads the same: each value lies
    within one line, with only JSON whitespace around it."""
    values: list[Any] = []
    append = values.append
    scan = exact_scan
    gap = _LINE_GAP.match
    find = text.find
    size = len(text)
    pos = 0
    while True:
        if pos < size and text[pos] in _GAP_CHARS:
            pos = gap(text, pos).end()  # type: ignore[union-attr]
        if pos >= size:
            return values
        if text[pos] == "\n":
            pos += 1
            continue
        try:
            value, end = scan(text, pos)
        except (StopIteration, ValueError):
            return None
        if find("\n", pos, end) >= 0:
            return None
        append(value)
        pos = end
        if pos < size and text[pos] in _GAP_CHARS:
            pos = gap(text, pos).end()  # type: ignore[union-attr]
        if pos < size:
            if text[pos] != "\n":
                return None
            pos += 1


PAUSE_CHARS = 256 * 1024
"""JSON texts longer than this are parsed and written with the cyclic garbage collector held
off (see :func:`collector_paused`)."""
_pause_lock = threading.Lock()
_pauses = [0, False]  # passes under way that hold the collector off; whether it was on


def _hold() -> None:
    with _pause_lock:
        if _pauses[0] == 0:
            _pauses[1] = gc.isenabled()
            gc.disable()
        _pauses[0] += 1


def _release() -> None:
    with _pause_lock:
        _pauses[0] -= 1
        if _pauses[0] == 0 and _pauses[1]:
            gc.enable()


@contextmanager
def collector_paused(chars: int) -> Iterator[None]:
    """Hold off Python's cyclic garbage collector while a JSON text of ``chars`` characters
    (over :data:`PAUSE_CHARS`) is parsed, written or reduced.

    Those passes allocate hundreds of thousands of objects (an exact value, its tables), none of
    them garbage, and each full collection walks all of them again: on 5 MB of JSON Lines
    collections took 0.2-0.3 s of a 1 s compression. Objects are freed by reference counting as
    usual; any cyclic garbage waits for the collector, which is switched back on (if it was on)
    when the last pass under way ends. Within a :func:`shared_parse` block the top-level pass
    holds it until the block ends: by then the parse it shares is freed, so the first
    collection after does not walk it either."""
    if chars <= PAUSE_CHARS:
        yield
        return
    _hold()
    try:
        yield
    finally:
        _release()


def compress_json(text: str, *, defer_check: bool = False) -> StructuralOutput:
    """Minify JSON or JSON Lines, with object arrays as tables (see module docstring).

    Raises :class:`InputError` with the parser's line and column when ``text`` is not JSON.

    ``defer_check`` (the structural engine's top-level JSON pass sets it): inside a
    :func:`shared_parse` block the round trip of the output is left to :func:`settle_json`,
    which the pipeline calls when it returns this output; a lossy output that replaces it makes
    the check moot (a third of the pass on large tables). Elsewhere it runs here, as always.
    """
    held = _HELD.get()
    if held is not None and not held and len(text) > PAUSE_CHARS:
        _hold()  # released when the shared_parse block ends
        held.append(True)
        return _compress_json(text, defer_check)
    with collector_paused(len(text)):
        return _compress_json(text, defer_check)


def _compress_json(text: str, defer_check: bool) -> StructuralOutput:
    value, jsonl = load_document(text.lstrip("\ufeff"))
    notes: list[str] = []
    box = _SHARED.get()
    layout: Layout | None = {} if box is not None else None
    out = dump(value, True, layout)
    if box is not None and layout is not None:
        box["last"] = Parsed(text, value, jsonl, out, layout)
    if jsonl and out.startswith("[{"):  # no table: one record per line reads better
        out = "\n".join(dump(v, True) for v in value)
    if defer_check and box is not None and DEFER_ROUND_TRIP:
        box["unchecked"] = Parsed(text, value, jsonl, out, {})
    else:
        out, failed = _checked(out, value, jsonl)
        if failed:
            notes.append(failed)
    if jsonl:
        notes.append("json: JSON Lines input; json_expand returns the records as a list")
    return _output(out, {"roundtrip": True}, notes)


DEFER_ROUND_TRIP = True
"""Whether :func:`compress_json` may leave its round trip to :func:`settle_json` (tests turn it off
to compare with the path that checks at once)."""
_FAILED = "json: table form failed the round trip; used plain minify"


def _checked(out: str, value: Any, jsonl: bool) -> tuple[str, str]:
    """``out`` when it reads back as ``value``, else the plain minified form and a note."""
    if _roundtrips(out, value):
        return out, ""
    out = "\n".join(dump(v, False) for v in value) if jsonl else dump(value, False)
    if not _roundtrips(out, value):
        raise AssertionError("json minify does not round-trip")  # a bug, never input
    return out, _FAILED


def settle_json(output: str) -> tuple[str, str]:
    """The round trip :func:`compress_json` left unchecked in this :func:`shared_parse` block,
    done now that its output is to be returned: ``(output, "")`` when it holds (or nothing was
    left, or ``output`` is no longer that text), else the plain minified form and a note."""
    box = _SHARED.get()
    left = box.pop("unchecked", None) if box is not None else None
    if left is None or output != left.written:
        return output, ""
    with collector_paused(len(output)):
        return _checked(output, left.value, left.jsonl)


class Parsed:
    """A text's exact value, whether it is JSON Lines, its compact layout and the
    :data:`~.json_table.Layout` recorded while writing it."""

    __slots__ = ("jsonl", "layout", "text", "value", "written")

    def __init__(self, text: str, value: Any, jsonl: bool, written: str, layout: Layout) -> None:
        self.text, self.value, self.jsonl, self.written, self.layout = (
            text,
            value,
            jsonl,
            written,
            layout,
        )


_SHARED: ContextVar[dict[str, Parsed] | None] = ContextVar("shared_json_parse", default=None)
_HELD: ContextVar[list[bool] | None] = ContextVar("json_collector_held", default=None)


@contextmanager
def shared_parse() -> Iterator[None]:
    """Within this block :func:`compress_json` hands its parse and layout of a text to the next
    :func:`take_parse` of that same text object (the pipeline's lossless pass, then its lossy
    one), which may change the value; outside it nothing is kept."""
    token = _SHARED.set({})
    holding = _HELD.set([])
    try:
        yield
    finally:
        held = bool(_HELD.get())
        _HELD.reset(holding)
        _SHARED.reset(token)  # the parse it kept is freed here, before the collector resumes
        if held:
            _release()


def take_parse(text: str) -> Parsed | None:
    """What :func:`compress_json` made of this very ``text`` object in the current
    :func:`shared_parse` block, once; None elsewhere."""
    box = _SHARED.get()
    if box is None:
        return None
    last = box.pop("last", None)
    return last if last is not None and last.text is text else None


def _roundtrips(out: str, value: Any) -> bool:
    try:
        return bool(loads(out) == value)
    except ValueError:
        return False


def json_expand(compact: str) -> Any:
    """Reverse :func:`compress_json`: the value ``json.loads`` gives for the original text.

    JSON Lines (several values, one per line) come back as a list.
    """
    try:
        return json.loads(compact)
    except json.JSONDecodeError:
        pass
    try:
        return plain(loads(compact))
    except ValueError as exc:
        raise InputError(f"invalid compact JSON: {exc}") from exc
