"""Exact JSON values and the compact table layout that :mod:`.data` writes and reads back.

Values are parsed exactly: :class:`Num` keeps a number's source text, :class:`Obj` keeps an
object's (key, value) pairs in order, duplicates included.

Table layout
------------
An array of objects becomes a header line and one line per row, where that is shorter::

    [3]{id,name,user{login,type=User},tags}
    1,Ada,ada,["x"]
    2,"null",bob,[]
    3,,"",[]

* ``[N]`` is the number of rows; ``{...}`` the columns in key order. A column written
  ``key=value`` has that value in every row and no cell; ``key{...}`` is an object in every row,
  its columns flattened into the row.
* A cell is a JSON number, ``true``, ``false``, ``null``, a JSON array or object, or a string:
  bare when it cannot be read as anything else (no comma, quote, control character, leading or
  trailing space, opening bracket, and not a number or literal), else JSON-quoted.
* An empty cell is a key the row does not have, so rows may differ in which keys they carry
  (their key order must agree with the header's).
* A column written ``key"prefix"`` holds strings that all start with ``prefix``; its cells
  are the rest (``url"https://docs.example.com/"`` and a cell ``a/1`` is
  ``https://docs.example.com/a/1``).
* A column written ``key[v0,v1,...]`` (a JSON array) names up to ten long values it repeats;
  a bare cell ``@i`` in it is value ``vi`` (a string starting with ``@`` is quoted there)::

    [3]{id,closed_at["2024-10-01T00:00:00Z"]}
    1,@0
    2,null
    3,@0

Everything outside tables is minified JSON; after a table's last row, the JSON continues on the
next line. ``[N]{`` cannot occur in JSON, so the two never mix up.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from itertools import repeat
from json.encoder import encode_basestring, encode_basestring_ascii
from operator import is_, itemgetter
from typing import Any, cast

from compression_layer.compress.reversible import MARKER_RE
from compression_layer.tokens import count_tokens

_scan = cast(Callable[[str, int], tuple[str, int]], json.decoder.scanstring)  # type: ignore[attr-defined]
_SURROGATE = re.compile("[\ud800-\udfff]")
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?")
_LITERAL = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?|null|true|false|-?Infinity|NaN")
# A string may be written bare when it contains none of these and is not a literal.
_UNSAFE_CELL = re.compile(r'[,"\x00-\x1f\x7f\ud800-\udfff]|^[\s\[{]|\s$|^$')
_UNSAFE_NAME = re.compile(r'[,"{}=\[\]\x00-\x1f\x7f\ud800-\udfff]|^\s|\s$|^$')
_TABLE_HEAD = re.compile(r"\[(\d+)\]\{")
_BARE_CELL = re.compile(r"[^,\n]*")
_BARE_HEAD = re.compile(r"[^,{}=\n]*")
_BARE_NAME = re.compile(r'[^,{}=\["\n]*')  # a bare column name never holds '[' or '"'
_WORD_END = re.compile(r"[A-Za-z0-9]*$")
_REF = re.compile(r"@(\d)")
_WS = re.compile(r"[ \t\n\r]*")
MIN_TABLE_ROWS = 2


class Num(str):
    """A JSON number kept as its source text; equal only to another Num."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        return type(other) is Num and str.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    __hash__ = str.__hash__


class Marker(str):
    """A reversible-tier marker standing for omitted elements: one line of its own in a table,
    a JSON string anywhere else."""

    __slots__ = ()


class Obj(list[tuple[str, Any]]):
    """A JSON object as its ordered (key, value) pairs, duplicates included."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        return type(other) is Obj and list.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    __hash__ = None  # type: ignore[assignment]


_EXACT = json.JSONDecoder(object_pairs_hook=Obj, parse_float=Num, parse_int=Num, parse_constant=Num)


def exact_loads(text: str) -> Any:
    """One JSON document as Num / Obj / list / str / bool / None (raises JSONDecodeError)."""
    return _EXACT.decode(text)


exact_scan: Callable[[str, int], tuple[Any, int]] = _EXACT.scan_once  # type: ignore[attr-defined]
"""The scanner under :func:`exact_raw_decode`, without its frame: raises ``StopIteration`` where
no value starts, ``JSONDecodeError`` inside a broken one."""


def exact_raw_decode(text: str, pos: int) -> tuple[Any, int]:
    """The exact value starting at ``pos`` and where it ends (raises JSONDecodeError)."""
    return _EXACT.raw_decode(text, pos)  # type: ignore[no-any-return]


def dump_str(s: str) -> str:
    """A JSON string literal; non-ASCII kept as is, lone surrogates as ``\\u`` escapes."""
    if not s.isascii() and _SURROGATE.search(s):
        return encode_basestring_ascii(s)
    return encode_basestring(s)


_KEYS: dict[str, str] = {}  # object keys as written: they repeat row after row
_KEYS_MAX = 4096


def _key(k: str) -> str:
    written = _KEYS.get(k)
    if written is None:
        if len(_KEYS) >= _KEYS_MAX:
            _KEYS.clear()
        written = _KEYS[k] = dump_str(k)
    return written


Layout = dict[int, tuple[int, list[str]]]
"""What :func:`dump` may record of each array it writes, by the array's ``id``: the length of
its text and its elements' texts (which hold tables only where they contain ``]{``)."""


def dump(value: Any, tables: bool = True, layout: Layout | None = None) -> str:
    """Minified JSON of an exact value, arrays of objects as tables when shorter (``tables``).

    ``layout``, when given, receives what :data:`Layout` says of every array written.
    """
    if type(value) is Num:
        return str.__str__(value)
    if isinstance(value, str):
        return dump_str(value)
    if type(value) is Obj:  # numbers and strings written here: a call less for most values
        known = _KEYS.get
        return (
            "{"
            + ",".join(
                [
                    f"{known(k) or _key(k)}:"
                    + (
                        str.__str__(v)
                        if type(v) is Num
                        else dump_str(v)
                        if type(v) is str
                        else dump(v, tables, layout)
                    )
                    for k, v in value
                ]
            )
            + "}"
        )
    if isinstance(value, list):
        parts = [dump(v, tables, layout) for v in value]
        plain = "[" + ",".join(parts) + "]"
        if tables and len(value) >= MIN_TABLE_ROWS and type(value[0]) is Obj:
            table = dump_table(value)
            if table is not None and len(table) < len(plain):
                plain = table
        if layout is not None:
            layout[id(value)] = (len(plain), parts)
        return plain
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    raise TypeError(f"unexpected JSON value {value!r}")


# --- schema: which columns a list of objects has -------------------------------------------

_MISSING = object()
_first = itemgetter(0)
_second = itemgetter(1)


class _Column:
    __slots__ = ("const", "key", "nested", "prefix", "refs", "shared")

    def __init__(self, key: str) -> None:
        self.key = key
        self.const: Any = _MISSING
        self.nested: list[_Column] | None = None
        self.shared: list[Any] | None = None  # repeated long values, cells ``@0``..``@9``
        self.refs: dict[str, str] = {}  # a shared value's cell text -> its ``@i``
        self.prefix: str | None = None  # what every value of the column starts with


MAX_SHARED = 10
_CANDIDATES = 30
SHARED_MIN_CHARS = 8


MIN_PREFIX = 4


def _prefix(present: list[Any]) -> tuple[str, int]:
    """The start every value of a column of strings shares, cut after its last character that
    is not a letter or digit (a word is not split), and about the tokens writing it once saves."""
    if not all(type(v) is str for v in present):
        return "", 0
    low, high = min(present), max(present)  # the start they all share is theirs
    at = 0
    while at < len(low) and low[at] == high[at]:
        at += 1
    shared = low[:at]
    shared = shared[: _WORD_END.search(shared).start()]  # type: ignore[union-attr]
    if len(shared) < MIN_PREFIX:
        return "", 0
    return shared, count_tokens(shared) * (len(present) - 1) - 2


def _share(column: _Column, present: list[Any]) -> None:
    """Name the long values ``column`` repeats once in the header, when writing ``@i`` for them
    is shorter (the ten that save most)."""
    kinds = set(map(type, present))
    pairs: Iterable[tuple[Any, int]]
    if kinds == {str}:  # counted in C; first appearances keep their order
        pairs = Counter(present).items()
    elif not kinds & {str, Obj, list}:
        pairs = ()
    else:
        seen: dict[Any, list[Any]] = {}
        for v in present:
            kind = type(v)
            if kind is str:
                seen.setdefault(v, [v, 0])[1] += 1
            elif kind is Obj or kind is list:
                seen.setdefault((dump(v, False),), [v, 0])[1] += 1  # never equal to a str key
        pairs = ((v, n) for v, n in seen.values())
    counts: dict[str, list[Any]] = {}
    for v, n in pairs:
        if n < 2 or (type(v) is str and len(v) < SHARED_MIN_CHARS - 2):
            continue
        if len(cell := _cell(v)) >= SHARED_MIN_CHARS:
            counts[cell] = [v, n]
    # Characters first, then tokens (``@i`` is two) for the few that might save any.
    rough = {cell: n * (len(cell) - 2) - len(cell) - 1 for cell, (_, n) in counts.items()}
    likely = sorted((c for c in rough if rough[c] > 0), key=lambda c: -rough[c])[:_CANDIDATES]
    gains = {c: (counts[c][1] - 1) * (count_tokens(c) - 2) - 3 for c in likely}
    best = sorted((c for c in gains if gains[c] > 0), key=lambda c: -gains[c])[:MAX_SHARED]
    prefix, saves = _prefix(present)
    if saves > 0 and saves >= sum(gains[c] for c in best):
        column.prefix = prefix
    elif best:
        column.shared = [counts[c][0] for c in best]
        column.refs = {c: f"@{i}" for i, c in enumerate(best)}


def _schema(rows: list[Any], depth: int = 0, consts: bool = True) -> list[_Column] | None:
    """Columns of ``rows`` (all Obj, no duplicate keys, key orders that agree), or None."""
    keys: list[str] = []
    pos: dict[str, int] = {}
    if not rows or set(map(type, rows)) != {Obj}:
        return None
    # Rows with the same keys in the same order place them alike: each sequence once.
    orders = dict.fromkeys(map(tuple, map(map, repeat(_first), rows)))
    for names in orders:
        prev = -1
        for key in names:
            at = pos.get(key)
            if at is None:  # a new key goes right after the row's previous one
                at = prev + 1
                keys.insert(at, key)
                if at != len(keys) - 1:
                    pos = {k: i for i, k in enumerate(keys)}
                else:
                    pos[key] = at
            elif at <= prev:  # out of header order, or a duplicate key
                return None
            prev = at
    if not keys:
        return None
    columns = [_Column(k) for k in keys]
    # One key order (no key twice: placing it would have failed): the columns are the rows
    # transposed, with no dictionary per row.
    uniform = list(zip(*rows, strict=True)) if len(orders) == 1 else None
    maps = list(map(dict, rows)) if uniform is None else []
    for at, column in enumerate(columns):
        if uniform is not None:
            values = present = list(map(_second, uniform[at]))
        else:
            values = list(map(dict.get, maps, repeat(column.key), repeat(_MISSING)))
            if any(map(is_, values, repeat(_MISSING))):
                present = [v for v in values if v is not _MISSING]
            else:
                present = values
        first = present[0]
        if len(present) == len(values) and consts and type(first) is not Obj:
            short = not (isinstance(first, list) and first) or len(dump(first, False)) < 40
            if short and all(v == first for v in values[1:]):
                column.const = first
                continue
        # An object column is flattened when each present value is a non-empty object: its
        # cells are then never all empty, so all-empty cells mean the row has no such key.
        if depth < 2 and len(present) > 1 and all(type(v) is Obj and v for v in present):
            full = len(present) == len(values)
            column.nested = _schema(present, depth + 1, consts and full)
        else:
            _share(column, present)
    return columns
    return columns


def _header(columns: list[_Column]) -> str:
    parts = []
    for column in columns:
        name = column.key
        name = dump_str(name) if _UNSAFE_NAME.search(name) else name
        if column.const is not _MISSING:
            parts.append(f"{name}={_cell(column.const, head=True)}")
        elif column.nested is not None:
            parts.append(f"{name}{_header(column.nested)}")
        elif column.prefix is not None:
            parts.append(f"{name}{dump_str(column.prefix)}")
        elif column.shared is not None:
            parts.append(f"{name}[{','.join(dump(v, False) for v in column.shared)}]")
        else:
            parts.append(name)
    return "{" + ",".join(parts) + "}"


_UNSAFE_CHAR = re.compile(r'[,"\x00-\x1f\x7f\ud800-\udfff]')


def unsafe_cell(value: str) -> bool:
    """Whether :data:`_UNSAFE_CELL` finds anything in ``value`` (a cell that must be quoted),
    with its anchored alternatives read off the ends instead of tried at every position (``\\s``
    is ``str.isspace``; ``\\s$`` before a final newline needs that newline, a control
    character)."""
    return (
        not value
        or value[0].isspace()
        or value[0] in "[{"
        or value[-1].isspace()
        or _UNSAFE_CHAR.search(value) is not None
    )


_LITERAL_LINE = re.compile(rf"^(?:{_LITERAL.pattern})$", re.MULTILINE)
_last = itemgetter(-1)


def bare_strings(values: list[str]) -> bool:
    """Whether every string of ``values`` is its own cell (:func:`_cell` writes it bare), found
    for the whole column at once: no empty one, no space or bracket at an end, no unsafe
    character anywhere (one search of the column joined by a safe letter) and, those ruled out,
    no line of the column joined by newlines reads as a literal."""
    if not all(values):
        return False
    firsts, lasts = set(map(_first, values)), set(map(_last, values))
    if any(c.isspace() or c in "[{" for c in firsts) or any(c.isspace() for c in lasts):
        return False
    if _UNSAFE_CHAR.search("a".join(values)) is not None:
        return False
    return _LITERAL_LINE.search("\n".join(values)) is None


def _cell(value: Any, head: bool = False) -> str:
    if isinstance(value, str) and type(value) is not Num:
        if (
            unsafe_cell(value)
            or _LITERAL.fullmatch(value)
            or (head and ("{" in value or "}" in value or "=" in value))
        ):
            return dump_str(value)
        return value
    return dump(value, False)


_PLAIN, _NESTED, _PREFIX, _SHARED = range(4)
_Plan = list[tuple[int, str, Any]]


def _plan(columns: list[_Column]) -> _Plan:
    """What :func:`_cells` does per column, decided once per table (constants write no cell)."""
    plan: _Plan = []
    for column in columns:
        if column.const is not _MISSING:
            continue
        if column.nested is not None:
            plan.append((_NESTED, column.key, _plan(column.nested)))
        elif column.prefix is not None:
            plan.append((_PREFIX, column.key, len(column.prefix)))
        elif column.shared is not None:
            plan.append((_SHARED, column.key, column.refs))
        else:
            plan.append((_PLAIN, column.key, None))
    return plan


def _cells(row: Obj, plan: _Plan, out: list[str], seen: dict[str, str]) -> None:
    values = dict(row)
    for kind, key, extra in plan:
        value = values.get(key, _MISSING)
        if kind == _PLAIN:
            kind_of = type(value)
            if kind_of is str:  # plain strings repeat down a column: written once each
                known = seen.get(value)
                if known is None:
                    known = seen[value] = _cell(value)
                out.append(known)
            elif kind_of is Num:
                out.append(str.__str__(value))
            elif value is _MISSING:
                out.append("")
            else:
                out.append(_cell(value))
        elif kind == _NESTED:
            _cells(Obj() if value is _MISSING else value, extra, out, seen)
        elif value is _MISSING:
            out.append("")
        elif kind == _PREFIX:
            out.append(_cell(value[extra:]))
        else:
            cell = _cell(value)
            ref = extra.get(cell)
            if ref is not None:
                out.append(ref)
            else:  # a bare '@...' would read as a reference here
                out.append(dump_str(value) if cell[:1] == "@" else cell)


def dump_table(rows: list[Any]) -> str | None:
    """The table layout of ``rows`` (see module docstring), or None when they are no table.

    A :class:`Marker` among the rows is written as a line of its own (and read back as a string).
    """
    columns = _schema([row for row in rows if type(row) is not Marker])
    if columns is None:
        return None
    lines = [f"[{len(rows)}]{_header(columns)}"]
    seen: dict[str, str] = {}
    plan = _plan(columns)
    written = _column_rows(rows, columns, plan) if COLUMNWISE else None
    if written is not None:
        lines.extend(written)
        return "\n".join(lines) + "\n"
    for row in rows:
        if type(row) is Marker:
            lines.append(str.__str__(row))
            continue
        out: list[str] = []
        _cells(row, plan, out, seen)
        lines.append(",".join(out))
    return "\n".join(lines) + "\n"


COLUMNWISE = True
"""Whether :func:`dump_table` writes the cells of rows with one key order column by column
(tests turn it off to compare with the row-by-row writer)."""


def _shared_cell(value: Any, refs: dict[str, str]) -> str:
    """A cell of a column with shared values: ``@i`` for one of them, else the value's cell."""
    cell = _cell(value)
    ref = refs.get(cell)
    return ref if ref is not None else dump_str(value) if cell[:1] == "@" else cell


def _column_rows(rows: list[Any], columns: list[_Column], plan: _Plan) -> list[str] | None:
    """The row lines of a table whose rows all have the header's keys in its order (no nested
    columns), written column by column: each distinct string's cell once, numbers in C. None
    for any other table (the row-by-row writer takes it)."""
    data = [row for row in rows if type(row) is not Marker]
    if any(kind == _NESTED for kind, _, _ in plan):
        return None
    keys = tuple(c.key for c in columns)
    if not data or len(set(map(tuple, map(map, repeat(_first), data)))) != 1:
        return None
    if tuple(map(_first, data[0])) != keys:
        return None
    transposed = list(zip(*data, strict=True))
    cells: list[list[str]] = []
    for at, column in enumerate(columns):
        if column.const is not _MISSING:
            continue
        values = list(map(_second, transposed[at]))
        kinds = set(map(type, values))
        if column.prefix is not None:
            cut = len(column.prefix)
            rest = [v[cut:] for v in values]
            cells.append(rest if bare_strings(rest) else list(map(_cell, rest)))
        elif column.shared is not None:
            refs = column.refs
            if kinds == {str}:  # each distinct string once
                memo = {v: _shared_cell(v, refs) for v in dict.fromkeys(values)}
                cells.append(list(map(memo.__getitem__, values)))
            else:
                cells.append(list(map(_shared_cell, values, repeat(refs))))
        elif kinds == {str}:
            if bare_strings(values):
                cells.append(values)
                continue
            memo = {v: _cell(v) for v in dict.fromkeys(values)}
            cells.append(list(map(memo.__getitem__, values)))
        elif kinds == {Num}:
            cells.append(list(map(str.__str__, values)))
        else:
            cells.append([str.__str__(v) if type(v) is Num else _cell(v) for v in values])
    lines = list(map(",".join, zip(*cells, strict=True))) if cells else [""] * len(data)
    if len(data) == len(rows):
        return lines
    merged: list[str] = []
    next_line = iter(lines).__next__
    for row in rows:
        merged.append(str.__str__(row) if type(row) is Marker else next_line())
    return merged


# --- reading back --------------------------------------------------------------------------


def loads(text: str) -> Any:
    """Parse compact text back to an exact value; several top-level values come back as a list.

    Raises ``ValueError`` (``json.JSONDecodeError`` for JSON errors) on text that is not compact
    JSON.
    """
    reader = _Reader(text)
    values = []
    pos = _WS.match(text, 0).end()  # type: ignore[union-attr]
    while True:
        value, pos = reader.value(pos)
        values.append(value)
        pos = _WS.match(text, pos).end()  # type: ignore[union-attr]
        if pos >= len(text):
            break
    return values[0] if len(values) == 1 else values


class _Reader:
    def __init__(self, text: str) -> None:
        self.text = text

    def error(self, what: str, pos: int) -> json.JSONDecodeError:
        return json.JSONDecodeError(what, self.text, pos)

    def value(self, pos: int) -> tuple[Any, int]:
        text = self.text
        char = text[pos : pos + 1]
        if char == "[":
            head = _TABLE_HEAD.match(text, pos)
            if head is not None:
                return self.table(int(head.group(1)), head.end())
        if char in ("[", "{"):
            try:
                return _EXACT.raw_decode(text, pos)
            except json.JSONDecodeError:
                pass  # a table somewhere inside: walk this level by hand
            return self.array(pos + 1) if char == "[" else self.obj(pos + 1)
        try:
            return _EXACT.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise self.error(f"expected a value: {exc.msg}", pos) from None

    def array(self, pos: int) -> tuple[Any, int]:
        out: list[Any] = []
        text = self.text
        if text[pos : pos + 1] == "]":
            return out, pos + 1
        while True:
            value, pos = self.value(pos)
            out.append(value)
            pos = self.skip_newline(pos)
            char = text[pos : pos + 1]
            if char == "]":
                return out, pos + 1
            if char != ",":
                raise self.error("expected ',' or ']'", pos)
            pos += 1

    def obj(self, pos: int) -> tuple[Any, int]:
        out = Obj()
        text = self.text
        if text[pos : pos + 1] == "}":
            return out, pos + 1
        while True:
            if text[pos : pos + 1] != '"':
                raise self.error("expected a key", pos)
            key, pos = _scan(text, pos + 1)
            if text[pos : pos + 1] != ":":
                raise self.error("expected ':'", pos)
            value, pos = self.value(pos + 1)
            out.append((key, value))
            pos = self.skip_newline(pos)
            char = text[pos : pos + 1]
            if char == "}":
                return out, pos + 1
            if char != ",":
                raise self.error("expected ',' or '}'", pos)
            pos += 1

    def skip_newline(self, pos: int) -> int:
        return pos + 1 if self.text[pos : pos + 1] == "\n" else pos

    def header(self, pos: int) -> tuple[list[_Column], int]:
        text = self.text
        columns: list[_Column] = []
        if text[pos : pos + 1] == "}":
            raise self.error("a table needs a column", pos)
        while True:
            if text[pos : pos + 1] == '"':
                name, pos = _scan(text, pos + 1)
            else:
                end = _BARE_NAME.match(text, pos).end()  # type: ignore[union-attr]
                name, pos = text[pos:end], end
            column = _Column(name)
            char = text[pos : pos + 1]
            if char == '"':
                column.prefix, pos = _scan(text, pos + 1)
                char = text[pos : pos + 1]
            elif char == "[":
                try:
                    shared, pos = _EXACT.raw_decode(text, pos)
                except json.JSONDecodeError as exc:
                    raise self.error(f"bad shared values: {exc.msg}", pos) from None
                column.shared = shared
                char = text[pos : pos + 1]
            elif char == "=":
                column.const, pos = self.cell(pos + 1, head=True)
                char = text[pos : pos + 1]
            elif char == "{":
                column.nested, pos = self.header(pos + 1)
                char = text[pos : pos + 1]
            columns.append(column)
            if char == "}":
                return columns, pos + 1
            if char != ",":
                raise self.error("expected ',' or '}' in a table header", pos)
            pos += 1

    def cell(self, pos: int, head: bool = False) -> tuple[Any, int]:
        text = self.text
        char = text[pos : pos + 1]
        if char == '"':
            return _scan(text, pos + 1)
        if char in ("[", "{"):
            try:
                return _EXACT.raw_decode(text, pos)
            except json.JSONDecodeError as exc:
                raise self.error(f"bad cell: {exc.msg}", pos) from None
        end = (_BARE_HEAD if head else _BARE_CELL).match(text, pos).end()  # type: ignore[union-attr]
        raw = text[pos:end]
        if not raw:
            return _MISSING, end
        if _NUMBER.fullmatch(raw):
            return Num(raw), end
        literal = _LITERALS.get(raw, _MISSING)
        if literal is not _MISSING:
            return literal, end
        if raw in ("Infinity", "-Infinity", "NaN"):
            return Num(raw), end
        return raw, end

    def table(self, count: int, pos: int) -> tuple[Any, int]:
        columns, pos = self.header(pos)
        text = self.text
        rows: list[Any] = []
        leaves = _leaves(columns)
        seen: dict[str, Any] = {}  # bare cell text -> its value (a pure function of the text)
        for _ in range(count):
            if text[pos : pos + 1] != "\n":
                raise self.error("expected a table row", pos)
            if text[pos + 1 : pos + 2] == "[":
                found = MARKER_RE.match(text, pos + 1)
                if found is not None and text[found.end() : found.end() + 1] in ("\n", ""):
                    rows.append(found.group(0))
                    pos = found.end()
                    continue
            end = text.find("\n", pos + 1)
            end = len(text) if end < 0 else end
            line = text[pos + 1 : end]
            if '"' not in line and "[" not in line and "{" not in line:
                # Every cell is bare: the cell reader would stop at exactly these commas.
                cells = line.split(",")
                if len(cells) == leaves:
                    row = Obj()
                    _fill(columns, iter(cells), row, seen)
                    rows.append(row)
                    pos = end
                    continue
            row = Obj()
            pos, _ = self.row(pos + 1, columns, row, True)
            rows.append(row)
        return rows, self.skip_newline(pos)

    def row(self, pos: int, columns: list[_Column], out: Obj, first: bool) -> tuple[int, bool]:
        text = self.text
        for column in columns:
            if column.const is not _MISSING:
                out.append((column.key, column.const))
                continue
            if column.nested is not None:
                inner = Obj()
                pos, first = self.row(pos, column.nested, inner, first)
                if inner:  # a flattened object is never empty: no cells, no key
                    out.append((column.key, inner))
                continue
            if not first:
                if text[pos : pos + 1] != ",":
                    raise self.error("expected ',' between cells", pos)
                pos += 1
            first = False
            start = pos
            value, pos = self.cell(pos)
            if column.prefix is not None and value is not _MISSING:
                if type(value) is not str:
                    raise self.error("a cell that is no string where all are", start)
                value = column.prefix + value
            elif column.shared is not None and type(value) is str and text[start] == "@":
                value = _reference(column, value)
                if value is _MISSING:
                    raise self.error("a reference to no shared value", start)
            if value is not _MISSING:
                out.append((column.key, value))
        return pos, first


_LITERALS: dict[str, Any] = {"null": None, "true": True, "false": False}


def _leaves(columns: list[_Column]) -> int:
    """How many cells a row of these columns has."""
    return sum(
        0 if c.const is not _MISSING else _leaves(c.nested) if c.nested is not None else 1
        for c in columns
    )


def _reference(column: _Column, raw: str) -> Any:
    """The shared value ``@i`` names, or _MISSING when it names none."""
    found = _REF.fullmatch(raw)
    shared = column.shared or []
    if found is None or int(found.group(1)) >= len(shared):
        return _MISSING
    return shared[int(found.group(1))]


def _bare(raw: str) -> Any:
    """The value of a bare cell (as :meth:`_Reader.cell` reads it); _MISSING for an empty one."""
    if not raw:
        return _MISSING
    if _NUMBER.fullmatch(raw) or raw in ("Infinity", "-Infinity", "NaN"):
        return Num(raw)
    return _LITERALS.get(raw, raw)


def _fill(columns: list[_Column], cells: Iterator[str], out: Obj, seen: dict[str, Any]) -> None:
    """A row of bare ``cells`` into ``out``, as :meth:`_Reader.row` reads it."""
    for column in columns:
        if column.const is not _MISSING:
            out.append((column.key, column.const))
        elif column.nested is not None:
            inner = Obj()
            _fill(column.nested, cells, inner, seen)
            if inner:  # a flattened object is never empty: no cells, no key
                out.append((column.key, inner))
        else:
            raw = next(cells)
            if column.prefix is not None and raw:
                value = _bare(raw)
                if type(value) is not str:
                    raise ValueError(f"a cell that is no string where all are: {raw}")
                out.append((column.key, column.prefix + value))
                continue
            if column.shared is not None and raw[:1] == "@":
                value = _reference(column, raw)
                if value is _MISSING:
                    raise ValueError(f"a reference to no shared value: {raw}")
                out.append((column.key, value))
                continue
            value = seen.get(raw, _MISSING)
            if value is _MISSING and raw:
                value = seen[raw] = _bare(raw)
            if value is not _MISSING:
                out.append((column.key, value))


def plain(value: Any) -> Any:
    """An exact value as ``json.loads`` gives it (dicts, ints, floats; last duplicate wins)."""
    if type(value) is Num:
        return json.loads(str.__str__(value))
    if type(value) is Obj:
        return {k: plain(v) for k, v in value}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value
