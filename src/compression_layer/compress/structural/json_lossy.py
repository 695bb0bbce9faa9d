"""Lossy pass for JSON and JSON Lines (reversible tier: see compress.reversible).

Arrays of four or more elements (search hits, list responses, API pages, JSON Lines records) keep
some rows and name the rest: each run of left-out rows becomes one marker in the array::

    [47 rows omitted: retrieve o_3fa9c2d1e0 path=$.items rows=5-51]

Rows kept, in order of priority: the first and the last; every row that matches the query (at
least 60% of its words, at least one, found in the row's text); rows that look like errors (an
``error``-like key with a value, a ``status``/``level``-like value naming a failure, a non-2xx
code, ``ok``/``success`` false); numeric outliers (far from the median in median absolute
deviations; the three strongest always) and change points (a low-cardinality field taking a new
value); then the rows most related to the query, earlier rows first, while the budget lasts.
Kept object rows are written in the lossless table layout of :mod:`.json_table` (a marker is a
line of its own there, a JSON string elsewhere). When the kept rows are still over budget, string
values longer than 300 characters in rows that do not match the query are moved out:
``"[2400 chars omitted: retrieve o_... path=$.items[3].body]"``.

The budget is spent on the input's content: rows are kept until their share of the input reaches
``budget / tokens(input)``, and the compact layout then makes the output smaller still (so rate
0.2 keeps about a fifth of the rows' content). Rows that must stay (first, last, query matches,
errors) stay even past the budget; a note says so.
"""

from __future__ import annotations

import itertools
import math
import operator
import re
import statistics
from dataclasses import dataclass, field
from typing import Any

from compression_layer.compress.reversible import LossyOutput, marker
from compression_layer.compress.structural.data import (
    collector_paused,
    load_document,
    take_parse,
)
from compression_layer.compress.structural.json_table import Layout, Marker, Num, Obj, dump
from compression_layer.compress.types import Domain
from compression_layer.errors import InputError
from compression_layer.tokens import count_tokens

MIN_ROWS = 4
LONG_STRING = 300
_MARKER_TOKENS = 22
_MUST_OUTLIERS = 3
_NAME = re.compile(r'[^.\[\]\s"\\]+')
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_STOP = frozenset(
    re.findall(
        r"\S+",
        "a an and are as at be by did do does for from has have how i in is it its me my of on or "
        "the this that to was were what when where which who why will with",
    )
)
_FAILURE = re.compile(
    r"error|fail|fatal|critical|exception|denied|refused|timeout|timed out|panic|crash|invalid"
    r"|unavailable|abort|reject|warn",
    re.IGNORECASE,
)
_ERROR_KEYS = frozenset({"error", "errors", "exception", "err", "error_message", "stack"})
_STATUS_KEYS = frozenset(
    {"status", "level", "severity", "state", "result", "outcome", "conclusion", "loglevel", "lvl"}
)
_CODE_KEYS = frozenset({"status", "code", "status_code", "statuscode", "http_status", "httpstatus"})


def reduce_json(
    text: str, domain: Domain, *, budget: int, query: str | None, handle: str
) -> LossyOutput | None:
    """Keep the rows that matter within ``budget`` tokens; markers name the rest (module doc)."""
    del domain
    with collector_paused(len(text)):
        return _reduce(text, budget, query, handle)


def _reduce(text: str, budget: int, query: str | None, handle: str) -> LossyOutput | None:
    shared = take_parse(text)
    layout: Layout = {}
    if shared is not None:  # the lossless pass's parse and layout of this text
        value, full, layout = shared.value, shared.written, shared.layout
    else:
        try:
            value = load_document(text.lstrip("\ufeff"))[0]
        except InputError:
            return None
        full = dump(value, True, layout)
    ratio = len(full) / max(1, _tokens(full))  # characters per token of the compact layout
    tokens_in = _tokens(text)
    if len(full) / ratio <= budget:
        return None  # the lossless layout already fits
    target = budget * min(1.0, len(full) / ratio / max(1, tokens_in))
    arrays: list[_Array] = []
    _collect(value, "$", arrays, layout)
    del layout
    if not arrays:
        return None
    terms = query_terms(query)
    saved = [list(a.items) for a in arrays]
    for a in arrays:
        a.items.clear()
    fixed = len(dump(value)) / ratio  # what is left around the arrays
    for a, items in zip(arrays, saved, strict=True):
        a.items.extend(items)
    room = max(0.0, target - fixed)
    total = sum(a.chars for a in arrays)
    notes: list[str] = []
    omitted = 0
    over = False
    for array in arrays:
        kept, must_over = _choose(array, room * array.chars / total, ratio, terms)
        over = over or must_over
        omitted += _apply(array, kept, handle)
    out = dump(value)
    if _tokens(out) > budget:
        moved = _move_long_strings(arrays, handle, terms)
        if moved:
            omitted += moved
            out = dump(value)
            notes.append(f"json: {moved} long string value(s) moved out")
    if over:
        notes.append(
            "json: rows that must stay (first, last, query matches, errors) exceed the budget"
        )
    if omitted == 0:
        return None
    return LossyOutput(text=out, omitted=omitted, notes=notes)


def query_terms(query: str | None) -> list[str]:
    """The words of ``query`` a row is matched on (as substrings of its lower-cased text):
    lower-cased, stop words and single letters out, common suffixes cut (see :func:`_stem`)."""
    if not query:
        return []
    words = [w.lower() for w in _WORD.findall(query)]
    return list(dict.fromkeys(_stem(w) for w in words if len(w) > 1 and w not in _STOP))


_SUFFIXES = ("ations", "ation", "ions", "ion", "ings", "ing", "ers", "er", "ed", "es", "s", "ly")


def _stem(word: str) -> str:
    """``eviction`` -> ``evict``: a row saying ``evicts`` or ``evicted`` then matches too."""
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


def matches(row_text: str, terms: list[str]) -> int:
    """How many of ``terms`` occur in ``row_text`` (lower-cased)."""
    return sum(1 for t in terms if t in row_text)


def needed(terms: list[str]) -> int:
    """Terms a row must contain to count as matching the query: 60% of them, at least one."""
    return max(1, math.ceil(0.6 * len(terms))) if terms else 0


@dataclass
class _Array:
    items: list[Any]
    path: str
    chars: int
    texts: list[str] = field(default_factory=list)
    strings: list[tuple[Obj, int, str]] = field(default_factory=list)


def _collect(value: Any, path: str, out: list[_Array], layout: Layout) -> None:
    if isinstance(value, list) and type(value) is not Obj:
        if len(value) >= MIN_ROWS:
            written = layout.get(id(value))
            if written is None or len(written[1]) != len(value):
                written = (len(dump(value)), [dump(v, True) for v in value])
            # An element's text holds a table only where it has ']{' (never in plain JSON).
            texts = [
                t if "]{" not in t else dump(v, False)
                for t, v in zip(written[1], value, strict=True)
            ]
            out.append(_Array(value, path, written[0], texts))
            return
        for i, item in enumerate(value):
            _collect(item, f"{path}[{i}]", out, layout)
    elif type(value) is Obj:
        counts: dict[str, int] = {}
        for key, _ in value:
            counts[key] = counts.get(key, 0) + 1
        for key, item in value:
            step = _step(key)
            if counts[key] == 1 and step:  # a duplicated key has no path to one of its values
                _collect(item, path + step, out, layout)


def _step(key: str) -> str | None:
    """``.key``, or None for a key a marker cannot name (its quotes would be escaped inside a
    JSON string marker, so such a subtree is left whole)."""
    return "." + key if _NAME.fullmatch(key) else None


def _choose(array: _Array, room: float, ratio: float, terms: list[str]) -> tuple[set[int], bool]:
    items, texts = array.items, array.texts
    n = len(items)
    hits = [matches(t.lower(), terms) for t in texts] if terms else [0] * n
    need = needed(terms)
    must = {0, n - 1}
    if terms:
        must.update(i for i in range(n) if hits[i] >= need)
    columns = _uniform_columns(items)
    must.update(itertools.compress(range(n), _failed_rows(items, columns)))
    scale = array.chars / max(1, sum(map(len, texts)) + n) / ratio
    cost = [len(t) * scale for t in texts]
    kept: set[int] = set(must)
    spent = sum(cost[i] for i in kept) + _MARKER_TOKENS * _runs(kept, n)
    second = [i for i in _outliers_and_changes(items, columns) if i not in kept]
    for i in second[:_MUST_OUTLIERS]:  # the strongest few stay whatever the budget
        spent += cost[i] + _MARKER_TOKENS * _run_delta(kept, i, n)
        kept.add(i)
    over = spent > room
    # Then by relevance, earlier rows first (ranked results put the best first, and neighbours
    # of kept rows need no marker of their own).
    skip = kept.union(second)
    rest = [i for i in range(n) if i not in skip]
    if terms:
        rest.sort(key=lambda i: -hits[i])
    for i in [*second, *rest]:
        # _run_delta, inline: one call less per row
        before = i > 0 and i - 1 not in kept
        after = i + 1 < n and i + 1 not in kept
        delta = 1 if before and after else -1 if not before and not after else 0
        extra = cost[i] + _MARKER_TOKENS * delta
        if spent + extra > room:
            continue
        kept.add(i)
        spent += extra
    return kept, over


def _run_delta(kept: set[int], i: int, n: int) -> int:
    """How keeping row ``i`` changes the number of runs of left-out rows (markers)."""
    before = i > 0 and i - 1 not in kept
    after = i + 1 < n and i + 1 not in kept
    return 1 if before and after else -1 if not before and not after else 0


def _runs(kept: set[int], n: int) -> int:
    """How many runs of left-out rows (one marker each) ``kept`` leaves in ``n`` rows."""
    runs, prev = 0, -1
    for i in sorted(kept):
        if i > prev + 1:
            runs += 1
        prev = i
    return runs + (1 if prev < n - 1 else 0)


def _apply(array: _Array, kept: set[int], handle: str) -> int:
    items = array.items
    new: list[Any] = []
    start = None
    omitted = 0
    for i in range(len(items) + 1):
        if i < len(items) and i not in kept:
            start = i if start is None else start
            continue
        if start is not None:
            count = i - start
            rows = f"{start}-{i - 1}" if count > 1 else str(start)
            what = f"{count} rows" if count > 1 else "1 row"
            new.append(Marker(marker(handle, what, path=array.path, rows=rows)))
            omitted += count
            start = None
        if i < len(items):
            new.append(items[i])
            if type(items[i]) is Obj:
                for at, (key, v) in enumerate(items[i]):
                    if isinstance(v, str) and type(v) is not Num and len(v) > LONG_STRING:
                        step = _step(key)  # only for the long strings it may move
                        if step:
                            array.strings.append((items[i], at, f"{array.path}[{i}]{step}"))
    items[:] = new
    return omitted


def _move_long_strings(arrays: list[_Array], handle: str, terms: list[str]) -> int:
    moved = 0
    for array in arrays:
        for row, at, path in array.strings:
            key, v = row[at]
            if terms and matches(v.lower(), terms) >= needed(terms):
                continue  # the text a query matched stays
            if len([k for k, _ in row if k == key]) > 1:
                continue
            row[at] = (key, Marker(marker(handle, f"{len(v)} chars", path=path)))
            moved += 1
    return moved


_ERROR, _STATUS, _CODE, _OK = 1, 2, 4, 8
_ROLES: dict[str, int] = {}  # key as written -> the roles its lower-cased form plays
_ROLES_MAX = 4096


def _roles(key: str) -> int:
    roles = _ROLES.get(key)
    if roles is None:
        low = key.lower()
        roles = (
            (_ERROR if low in _ERROR_KEYS else 0)
            | (_STATUS if low in _STATUS_KEYS else 0)
            | (_CODE if low in _CODE_KEYS else 0)
            | (_OK if low in ("ok", "success", "passed") else 0)
        )
        if len(_ROLES) >= _ROLES_MAX:
            _ROLES.clear()
        _ROLES[key] = roles
    return roles


def _looks_failed(item: Any) -> bool:
    if type(item) is not Obj:
        return isinstance(item, str) and type(item) is not Num and bool(_FAILURE.search(item))
    for key, v in item:
        roles = _ROLES.get(key)
        if roles is None:
            roles = _roles(key)
        if roles and _failed_value(v, roles):
            return True
    return False


def _failed_value(v: Any, roles: int) -> bool:
    """Whether a value under a key of these roles says the row failed."""
    if roles & _ERROR and v not in (None, False, "") and v != [] and v != Obj():
        return True
    if roles & _STATUS and isinstance(v, str) and _FAILURE.search(v):
        return True
    code = roles & _CODE and type(v) is Num and v.isdigit() and len(v) == 3
    if code and not 200 <= int(v) < 400:
        return True
    return bool(roles & _OK and v is False)


_HASHABLE = frozenset({str, Num, bool, type(None)})


def _failed_rows(items: list[Any], columns: _Columns | None) -> list[bool]:
    """:func:`_looks_failed` of every item; for :func:`_uniform_columns` column by column, each
    distinct value of a column with a role judged once."""
    if columns is None:
        return list(map(_looks_failed, items))
    flags = [False] * len(items)
    for key, values in columns:
        roles = _roles(key)
        if not roles:
            continue
        if set(map(type, values)) <= _HASHABLE:
            verdict = {v: _failed_value(v, roles) for v in dict.fromkeys(values)}
            hit = list(map(verdict.__getitem__, values))
        else:
            hit = [_failed_value(v, roles) for v in values]
        flags = list(map(operator.or_, flags, hit))
    return flags


_Columns = list[tuple[str, list[Any]]]
_key_of = operator.itemgetter(0)
_value_of = operator.itemgetter(1)


def _uniform_columns(items: list[Any]) -> _Columns | None:
    """``(key, values)`` of each column when every item is an object with the same keys in the
    same order, no key twice (transposed in C); None for any other items."""
    if not items or set(map(type, items)) != {Obj} or len(set(map(len, items))) != 1:
        return None
    columns: _Columns = []
    for column in zip(*items, strict=True):
        if len(set(map(_key_of, column))) != 1:
            return None
        columns.append((column[0][0], list(map(_value_of, column))))
    if len({key for key, _ in columns}) != len(columns):
        return None
    return columns


def _outliers_and_changes(items: list[Any], columns: _Columns | None = None) -> list[int]:
    """Rows whose numbers are far from their column's median, or where a category changes.

    Columns are visited in the order their keys first appear (ties in strength keep it). The
    work is column by column, in C where a column holds one kind of value; ``columns`` are the
    items' :func:`_uniform_columns` when they have them."""
    found: dict[int, float] = {}
    if columns is not None:
        every = list(range(len(items)))
        for _, values in columns:
            kinds = set(map(type, values))
            _score_numbers(every, values, kinds, found)
            _score_changes(every, values, kinds, found)
        return sorted(found, key=lambda i: -found[i])
    at = [i for i, item in enumerate(items) if type(item) is Obj]
    rows = [dict(items[i]) for i in at]  # a duplicated key: its last value
    keys: dict[str, Any] = {}
    for row in rows:
        keys.update(row)
    for key in keys:
        got = list(map(dict.get, rows, itertools.repeat(key), itertools.repeat(_ABSENT)))
        if any(map(operator.is_, got, itertools.repeat(_ABSENT))):
            pairs = [(i, v) for i, v in zip(at, got, strict=True) if v is not _ABSENT]
            index, values = [i for i, _ in pairs], [v for _, v in pairs]
        else:
            index, values = at, got
        kinds = set(map(type, values))
        _score_numbers(index, values, kinds, found)
        _score_changes(index, values, kinds, found)
    return sorted(found, key=lambda i: -found[i])


_ABSENT = object()


def _score_numbers(
    index: list[int], values: list[Any], kinds: set[type], found: dict[int, float]
) -> None:
    """Numbers more than six median absolute deviations from their column's median."""
    if Num not in kinds:
        return
    if len(kinds) == 1:
        try:
            xs = list(map(float, values))
        except ValueError:
            xs = list(map(_float, values))
        if all(map(math.isfinite, xs)):
            nums = list(zip(index, xs, strict=True))
        else:
            nums = [(i, x) for i, x in zip(index, xs, strict=True) if math.isfinite(x)]
    else:
        nums = [
            (i, x)
            for i, v in zip(index, values, strict=True)
            if type(v) is Num and math.isfinite(x := _float(v))
        ]
    if len(nums) < 8:
        return
    xs = [x for _, x in nums]
    med = statistics.median(xs)
    mad = statistics.median([abs(x - med) for x in xs])
    if mad <= 0:
        return
    near = 5.99 * mad  # a cheap bound first; the score decides
    near = near if math.isfinite(near) else -1.0
    for i, x in nums:
        if abs(x - med) > near:
            score = abs(x - med) / mad
            if score > 6:
                found[i] = max(found.get(i, 0.0), score)


def _score_changes(
    index: list[int], values: list[Any], kinds: set[type], found: dict[int, float]
) -> None:
    """Where a low-cardinality column of strings takes a new value (a few times at most)."""
    if kinds == {str}:
        cats = values
        where = index
    elif any(issubclass(k, str) and k is not Num for k in kinds):
        pairs = [
            (i, v)
            for i, v in zip(index, values, strict=True)
            if isinstance(v, str) and type(v) is not Num
        ]
        where, cats = [i for i, _ in pairs], [v for _, v in pairs]
    else:
        return
    limit = max(2, len(cats) // 10)
    if len(cats) < 8 or len(set(cats[: limit + 1])) > limit or len(set(cats)) > limit:
        return
    changes = [where[k] for k in range(1, len(cats)) if cats[k] != cats[k - 1]]
    if len(changes) <= max(3, len(cats) // 10):
        for i in changes:
            found[i] = max(found.get(i, 0.0), 6.0)


def _float(v: str) -> float:
    """A number's value; NaN for a text ``float`` does not read (never an outlier)."""
    try:
        return float(v)
    except ValueError:
        return math.nan


def _tokens(text: str) -> int:
    """o200k tokens; for long texts, estimated from evenly spaced samples."""
    if len(text) <= 400_000:
        return count_tokens(text)
    step = len(text) // 8
    sample = "".join(text[i * step : i * step + 25_000] for i in range(8))
    return round(count_tokens(sample) * len(text) / len(sample))
