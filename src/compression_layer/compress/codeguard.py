"""Code guard: a compressed program or document that no longer parses is not returned.

Lossy engines are not meant to see code, but routing is heuristic and an engine can be forced.
For the languages the standard library can parse, :func:`check_code_output` compares the
compressed text with the original and hands the original back when the meaning may have moved:

* Python: the original parses and the output does not, or the two trees differ in more than
  their docstrings (a lossy engine may shorten a docstring; it may not touch code);
* JSON (and JSON Lines): the original parses and the output does not give the same values, with
  types compared (``1`` is not ``true`` or ``1.0``).

Other languages come back unchanged: there is no parser here to ask. Each side is parsed once.
"""

from __future__ import annotations

import ast
import json
from typing import Any

from compression_layer.compress.structural.python import ast_check as pyast

__all__ = ["check_code_output"]

_PYTHON = frozenset({"python", "py", "python3", "py3", "pyi"})
_JSON = frozenset({"json", "jsonl", "ndjson", "jsonlines"})


def check_code_output(
    original: str, compressed: str, language: str | None
) -> tuple[str, str | None]:
    """``(compressed, None)`` when the output keeps the input's parse, else ``(original, note)``.

    ``language`` is the detected code language (``"python"``) or ``"json"`` for JSON input;
    any other language, or ``None``, is returned unchanged. An original that does not parse
    itself gives nothing to compare, so the output is returned as it is.
    """
    if compressed == original or language is None:
        return compressed, None
    lang = language.lower()
    if lang in _PYTHON:
        same = _same_python(original, compressed)
        kind = "python"
    elif lang in _JSON:
        same = _same_json(original, compressed)
        kind = "json"
    else:
        return compressed, None
    if same is False:
        return original, f"code guard: {kind} output did not re-parse to the input; input unchanged"
    return compressed, None


def _same_python(original: str, compressed: str) -> bool | None:
    """None when the original does not parse; else whether the trees match, docstrings aside."""
    before = _parse_python(original)
    if before is None:
        return None
    after = _parse_python(compressed)
    if after is None:
        return False
    if pyast.same_tree(before[0], after[0]):
        return True
    pyast.drop_docstrings(before[0])
    pyast.drop_docstrings(after[0])
    return pyast.same_tree(before[0], after[0])


def _parse_python(text: str) -> tuple[ast.Module, int] | None:
    # What Python's own reader does first: universal newlines, no byte-order mark.
    source = text.replace("\r\n", "\n").replace("\r", "\n").removeprefix("\ufeff")
    try:
        return pyast.parse_fragment(source)
    except (RecursionError, MemoryError):  # nesting too deep for the parser: cannot tell
        return None


_MISSING = object()


def _same_json(original: str, compressed: str) -> bool | None:
    """None when the original is neither JSON nor JSON Lines; else whether the values match."""
    before = _load_json(original)
    if before is _MISSING:
        return None
    after = _load_json(compressed)
    return after is not _MISSING and _same_value(before, after)


def _load_json(text: str) -> Any:
    """One JSON value, or the list of a JSON Lines text's values, or ``_MISSING``."""
    try:
        return json.loads(text)
    except ValueError:
        pass
    except RecursionError:
        return _MISSING
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) < 2:
        return _MISSING
    try:
        return [json.loads(line) for line in lines]
    except (ValueError, RecursionError):
        return _MISSING


def _same_value(a: Any, b: Any) -> bool:
    """Equal JSON values, types included (Python says ``1 == True == 1.0``); NaN equals NaN.

    Iterative, so nesting as deep as ``json.loads`` accepted is compared without recursion.
    """
    stack = [(a, b)]
    while stack:
        x, y = stack.pop()
        if type(x) is not type(y):
            return False
        if isinstance(x, dict):
            if x.keys() != y.keys():
                return False
            stack.extend((x[k], y[k]) for k in x)
        elif isinstance(x, list):
            if len(x) != len(y):
                return False
            stack.extend(zip(x, y, strict=True))
        elif x != y and not (x != x and y != y):
            return False
    return True
