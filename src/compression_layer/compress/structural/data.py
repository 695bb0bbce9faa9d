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

import json
from typing import Any

from compression_layer.compress.structural.json_table import dump, exact_loads, loads, plain
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
