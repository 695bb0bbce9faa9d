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
_DIGIT = re.compile(r"\d")
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
    if lines.count(lines[0]) == n:
        return [f"{lines[0]} [x{n}]"]
    columns = list(zip(*run, strict=True))
    varying = [k for k, column in enumerate(columns) if column.count(column[0]) != n]
    if not all(k % 2 for k in varying):
        return lines  # the spacing differs (never seen): a template could not rebuild it
    fields = _fields(columns, varying)
    first = run[0]
    pieces = [f"[x{n}] "]
    constant = []
    k = 0
    for start, end in fields:
        segment = "".join(first[k:start])
        pieces.append(segment)
        constant.append(segment)
        pieces.append("{" + "|".join("".join(parts[start:end]) for parts in run) + "}")
        k = end
    tail = "".join(first[k:])
    pieces.append(tail)
    constant.append(tail)
    # Collapsing writes the constant words once instead of n times and spends a brace or a
    # bar per value: worth it when the words saved outnumber the marks added.
    saved = (n - 1) * count_tokens("".join(constant))
    spent = len(fields) * (n + 1) + 3
    collapsed = "".join(pieces)
    if saved > spent:
        return [collapsed]
    if 3 * saved > spent and count_tokens(collapsed) < count_tokens("\n".join(lines)):
        return [collapsed]  # a close call: counted
    return lines


def _fields(columns: list[tuple[str, ...]], varying: list[int]) -> list[tuple[int, int]]:
    """(start, end) column ranges of the fields: each varying word with the words it must not
    be cut from (neighbouring constant words holding a digit, such as the date before a varying
    time: a timestamp is one fact), separators between them included."""
    varies = set(varying)
    out: list[tuple[int, int]] = []
    for k in varying:
        if out and k < out[-1][1]:
            continue  # inside the field before
        start, end = k, k + 1
        floor = out[-1][1] + 1 if out else 1
        while start - 2 >= floor and _joins(columns[start - 2][0]):
            start -= 2
        while end + 1 < len(columns) and (end + 1 in varies or _joins(columns[end + 1][0])):
            end += 2
        out.append((start, end))
    return out


def _joins(word: str) -> bool:
    return _DIGIT.search(word) is not None
