"""Lossless pass for logs: runs of repeated and near-repeated lines, collapsed with every value.

A run of ``min_repeat`` or more consecutive lines that look alike collapses to one line, when
that line has fewer tokens than the run:

* identical lines: ``<line> [xN]``;
* otherwise ``[xN] <template>`` where each field that varies is written ``{v1|v2|...}`` with its
  value on every line of the run, in order, so the run can be rebuilt exactly (``|`` because a
  comma would read as the fraction of a timestamp).

Only consecutive lines are grouped, so the order of events is kept.

Lines look alike when they have the same *skeleton* (the line without its ASCII letters and
digits: same punctuation, same spacing; one ``str.translate`` over the whole text) and at most
half of their words differ from the first line of the run. Words are split at white space, a
quoted string being one word. A field is a word that varies, widened over the neighbouring words
that hold a digit (``2024-03-01 12:00:00,123`` stays one field, as it is one fact for
:mod:`compression_layer.compress.facts`), so facts and values come through whole.

Per line, the work is a share of two ``translate`` calls and a dictionary-free loop; only lines in
candidate runs are split into words, and a run's tokens are counted only when the estimate (the
constant words saved against the braces and bars added) is a close call.
"""

from __future__ import annotations

import re
import string

from compression_layer.compress.structural.output import StructuralOutput
from compression_layer.tokens import count_tokens

_SKELETON = str.maketrans("", "", string.ascii_letters + string.digits)
_WORDS = re.compile(r'("[^"\n]*"|[^\s"]+|")')  # a quoted string is one word


def compress_log(text: str, *, min_repeat: int = 2) -> StructuralOutput:
    """Collapse runs of repeated and near-repeated log lines (see the module docstring).

    Trailing spaces go and runs of blank lines become one; every distinct value is kept.
    """
    if min_repeat < 2:
        raise ValueError("min_repeat must be at least 2")
    lines = [line.rstrip() for line in text.split("\n")]
    skeletons = "\n".join(lines).translate(_SKELETON).split("\n")
    out: list[str] = []
    at = 0  # next line to copy
    for start, end in _candidate_runs(lines, skeletons, min_repeat):
        _copy(lines, at, start, out)
        for run in _similar(lines[start:end]):
            plain = ["".join(parts) for parts in run]
            out.extend(_collapse(run, plain) if len(run) >= min_repeat else plain)
        at = end
    _copy(lines, at, len(lines), out)
    return StructuralOutput(text="\n".join(out), checks={"values_kept": True})


def _candidate_runs(lines: list[str], keys: list[str], least: int) -> list[tuple[int, int]]:
    """[start, end) of the runs of ``least`` or more consecutive non-blank lines, equal keys."""
    runs = []
    start = 0
    n = len(lines)
    for i in range(1, n + 1):
        if i < n and keys[i] == keys[start] and lines[i]:
            continue
        if i - start >= least and lines[start]:
            runs.append((start, i))
        start = i
    return runs


def _copy(lines: list[str], start: int, end: int, out: list[str]) -> None:
    """Lines ``start``..``end`` as they are, runs of blank lines as one."""
    for line in lines[start:end]:
        if line or not out or out[-1]:
            out.append(line)


def _similar(run: list[str]) -> list[list[list[str]]]:
    """Split a same-skeleton run into stretches whose words mostly agree with their first line."""
    split = [_WORDS.split(line) for line in run]
    out: list[list[list[str]]] = []
    for parts in split:
        first = out[-1][0] if out else None
        if first is not None and len(parts) == len(first):  # a skeleton hides all-alnum words
            differ = sum(1 for k in range(1, len(parts), 2) if parts[k] != first[k])
            if 2 * differ <= len(parts) // 2:
                out[-1].append(parts)
                continue
        out.append([parts])
    return out


def _collapse(run: list[list[str]], lines: list[str]) -> list[str]:
    """``<line> [xN]`` or ``[xN] <template>`` with ``{v1|v2|...}`` fields, if fewer tokens.

    Returns ``lines`` itself when collapsing would not save tokens.
    """
    n = len(run)
    if all(line == lines[0] for line in lines):
        return [f"{lines[0]} [x{n}]"]
    columns = list(zip(*run, strict=True))
    varies = [column.count(column[0]) != n for column in columns]
    fields = _fields(columns, varies)
    pieces = ["[x", str(n), "] "]
    constant = []
    k = 0
    while k < len(columns):
        end = fields.get(k)
        if end is None:
            pieces.append(columns[k][0])
            constant.append(columns[k][0])
            k += 1
            continue
        values = ["".join(parts[k:end]) for parts in run]
        pieces.append("{" + "|".join(values) + "}")
        k = end
    # Collapsing writes the constant words once instead of n times and spends a brace or a
    # bar per value: worth it when the words saved outnumber the marks added.
    saved = (n - 1) * count_tokens("".join(constant))
    spent = len(fields) * (n + 1) + 3
    if saved > spent:
        return ["".join(pieces)]
    collapsed = "".join(pieces)
    if 3 * saved > spent and count_tokens(collapsed) < count_tokens("\n".join(lines)):
        return [collapsed]  # a close call: counted
    return lines


def _fields(columns: list[tuple[str, ...]], varies: list[bool]) -> dict[int, int]:
    """Start -> end (exclusive) of each field: a varying word with the words it must not be
    cut from (the separators between, and neighbouring constant words holding a digit, such as
    the date before a varying time: a timestamp is one fact)."""
    out: dict[int, int] = {}
    k = 1
    while k < len(columns):
        if not varies[k]:
            k += 2
            continue
        start, end = k, k + 1
        while start - 2 >= 1 and _joins(columns[start - 2][0]) and not varies[start - 1]:
            start -= 2
        while end + 1 < len(columns) and (varies[end + 1] or _joins(columns[end + 1][0])):
            end += 2
        out[start] = end
        k = end + 1
    return out


def _joins(word: str) -> bool:
    return any(c.isdigit() for c in word)
