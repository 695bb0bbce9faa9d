"""Meaning-preserving passes for data: JSON (and JSON Lines) and logs.

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

Logs
----
Lines are compared after masking their variable fields: the facts of
:mod:`compression_layer.compress.facts` (dates and times, paths, URLs, numbers, names, ...) and
UUIDs, hex ids, IP addresses and numbers around them. A run of ``min_repeat`` or more consecutive
lines with the same mask collapses to one line, when that line has fewer tokens than the run:

* identical lines: ``<line> [xN]``;
* otherwise ``[xN] <template>`` where each field that varies is written ``{v1|v2|...}`` with its
  value on every line of the run, in order, so the run can be rebuilt exactly (``|`` because a
  comma would read as the fraction of a timestamp).

Only consecutive lines are grouped, so the order of events is kept.
"""

from __future__ import annotations

import bisect
import json
import re
from typing import Any

from compression_layer.compress.structural.json_table import dump, exact_loads, loads, plain
from compression_layer.compress.structural.output import StructuralOutput
from compression_layer.errors import InputError
from compression_layer.tokens import count_tokens


def _output(text: str, checks: dict[str, bool], notes: list[str]) -> StructuralOutput:
    return StructuralOutput(text=text, checks=checks, notes=notes)


def load_document(text: str) -> tuple[Any, bool]:
    """Parse JSON or JSON Lines exactly; returns (value, is_jsonl). Raises InputError."""
    try:
        return exact_loads(text), False
    except json.JSONDecodeError as exc:
        if exc.msg != "Extra data":
            raise InputError(f"invalid JSON: {exc}") from exc
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


def compress_json(text: str) -> StructuralOutput:
    """Minify JSON or JSON Lines, with object arrays as tables (see module docstring).

    Raises :class:`InputError` with the parser's line and column when ``text`` is not JSON.
    """
    value, jsonl = load_document(text.lstrip("\ufeff"))
    notes: list[str] = []
    out = dump(value, True)
    if jsonl and out.startswith("[{"):  # no table: one record per line reads better
        out = "\n".join(dump(v, True) for v in value)
    if not _roundtrips(out, value):
        notes.append("json: table form failed the round trip; used plain minify")
        out = "\n".join(dump(v, False) for v in value) if jsonl else dump(value, False)
        if not _roundtrips(out, value):
            raise AssertionError("json minify does not round-trip")  # a bug, never input
    if jsonl:
        notes.append("json: JSON Lines input; json_expand returns the records as a list")
    return _output(out, {"roundtrip": True}, notes)


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


# --- logs -------------------------------------------------------------------------------

_FIELD = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
    r"|\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?"
    r"|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    r"|0[xX][0-9a-fA-F]+"
    r"|\b(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}\b"
    r"|\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?"
    r"|\d+(?:\.\d+)?"
)
_MARK = "\x00"


def compress_log(text: str, *, min_repeat: int = 2) -> StructuralOutput:
    """Collapse runs of repeated and near-repeated log lines (see the module docstring).

    Trailing spaces go and runs of blank lines become one; every distinct value is kept.
    """
    if min_repeat < 2:
        raise ValueError("min_repeat must be at least 2")
    lines = [line.rstrip() for line in text.split("\n")]
    if _MARK in text:  # the mask character itself: grouping could misalign fields
        return _output("\n".join(lines), {"values_kept": True}, ["log: NUL in input; layout only"])
    masked = _mask(lines)
    out: list[str] = []
    i = 0
    while i < len(lines):
        if not lines[i]:
            if not out or out[-1]:
                out.append("")
            i += 1
            continue
        key = masked[i][0]
        j = i + 1
        while j < len(lines) and lines[j] and masked[j][0] == key:
            j += 1
        if j - i >= min_repeat:
            out.extend(_collapse(lines[i:j], key, [values for _, values in masked[i:j]]))
        else:
            out.extend(lines[i:j])
        i = j
    result = "\n".join(out)
    if not set(_FIELD.findall(text)) <= set(_FIELD.findall(result)):
        # A value would be lost (never expected): keep the layout-only version instead.
        result = "\n".join(lines)
        return _output(result, {"values_kept": True}, ["log: grouping dropped a value; skipped"])
    return _output(result, {"values_kept": True}, [])


def _mask(lines: list[str]) -> list[tuple[str, list[str]]]:
    """Each line's template (fields replaced by a mark) and field values.

    Fields are the facts that :func:`compression_layer.compress.facts.extract` finds (so a
    timestamp, path or name is never split, and the fact check finds it whole in the output)
    plus numbers, hex ids and addresses outside them.
    """
    from compression_layer.compress.facts import extract

    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line) + 1)
    spans: list[list[tuple[int, int]]] = [[] for _ in lines]
    for fact in extract("\n".join(lines)):
        row = bisect.bisect_right(starts, fact.start) - 1
        if fact.end <= starts[row] + len(lines[row]):  # a fact across lines stays literal
            spans[row].append((fact.start - starts[row], fact.end - starts[row]))
    masked = []
    for line, facts in zip(lines, spans, strict=True):
        fields = list(facts)
        for m in _FIELD.finditer(line):
            if not any(m.start() < end and start < m.end() for start, end in facts):
                fields.append(m.span())
        fields.sort()
        pieces, values, pos = [], [], 0
        for start, end in fields:
            pieces.append(line[pos:start])
            values.append(line[start:end])
            pos = end
        pieces.append(line[pos:])
        masked.append((_MARK.join(pieces), values))
    return masked


def _collapse(run: list[str], key: str, values: list[list[str]]) -> list[str]:
    n = len(run)
    if all(line == run[0] for line in run):
        return [f"{run[0]} [x{n}]"]
    literals = key.split(_MARK)
    parts = [f"[x{n}] ", literals[0]]
    for column, literal in zip(zip(*values, strict=True), literals[1:], strict=True):
        varies = any(v != column[0] for v in column)
        parts.append("{" + "|".join(column) + "}" if varies else column[0])
        parts.append(literal)
    collapsed = "".join(parts)
    return [collapsed] if count_tokens(collapsed) < count_tokens("\n".join(run)) else run
