"""JSON paths resolved to spans of the original text, so a retrieval is a slice, never a re-dump.

Number texts (``1.50``, ``1e3``), key order, escapes and whitespace come back exactly as they
were written. A text that is not one JSON value but JSON Lines (one document per non-blank line)
is read as an array of its lines: ``$[3]`` is the fourth document, ``rows=0-9`` the first ten.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass

from compression_layer.errors import InputError

_DECODER = json.JSONDecoder()
_WS = re.compile(r"[ \t\n\r]*")
_STEP = re.compile(
    r"""\.(?P<name>[^.\[\]\s]+)"""  # .key
    r"""|\[(?P<index>-?\d+)\]"""  # [3] or [-1]
    r"""|\[(?P<quoted>"(?:[^"\\]|\\.)*")\]"""  # ["key with . or spaces"]
)


@dataclass(frozen=True)
class Span:
    """``text[start:end]`` is one JSON value; ``lines`` marks the JSON Lines pseudo-array."""

    start: int
    end: int
    lines: bool = False


def parse_path(path: str) -> list[str | int]:
    """``$.a["b c"][3]`` -> ``["a", "b c", 3]``; anything else is an :class:`InputError`."""
    text = path.strip()
    if not text.startswith("$"):
        raise InputError(f"path {path!r} must start with $ (the document), e.g. $.items[3]")
    steps: list[str | int] = []
    at = 1
    while at < len(text):
        found = _STEP.match(text, at)
        if found is None:
            raise InputError(
                f'path {path!r} cannot be read from {text[at:]!r}: use .key, ["key"] or [index]'
            )
        if found.group("name") is not None:
            steps.append(found.group("name"))
        elif found.group("index") is not None:
            steps.append(int(found.group("index")))
        else:
            steps.append(json.loads(found.group("quoted")))
        at = found.end()
    return steps


def _skip_ws(text: str, at: int) -> int:
    match = _WS.match(text, at)
    return match.end() if match else at


def _value_end(text: str, at: int) -> int:
    try:
        return _DECODER.raw_decode(text, at)[1]
    except json.JSONDecodeError as exc:
        raise InputError(
            f"the original is not valid JSON at character {exc.pos}: {exc.msg}"
        ) from exc


def root(text: str) -> Span:
    """The document's span: one JSON value, or JSON Lines when the text is that instead."""
    start = _skip_ws(text, 0)
    try:
        end = _DECODER.raw_decode(text, start)[1]
    except json.JSONDecodeError:
        end = -1
    if end >= 0 and _skip_ws(text, end) == len(text):
        return Span(start, end)
    if _json_lines(text):
        return Span(0, len(text), lines=True)
    _value_end(text, start)  # raises with where the text stops being JSON
    raise InputError(
        f"the original is not one JSON value: text follows it at character {_skip_ws(text, end)}"
    )


def _json_lines(text: str) -> bool:
    count = 0
    for start, end in _line_spans(text):
        if text[start:end].strip():
            try:
                json.loads(text[start:end])
            except ValueError:
                return False
            count += 1
    return count > 1


def _line_spans(text: str) -> Iterator[tuple[int, int]]:
    start = 0
    while start < len(text):
        end = text.find("\n", start)
        if end < 0:
            end = len(text)
        yield start, end
        start = end + 1


def _member_spans(text: str, span: Span) -> Iterator[tuple[str, int, int]]:
    """Key and value span of each member of the object at ``span``."""
    at = _skip_ws(text, span.start + 1)
    if text[at] == "}":
        return
    while True:
        key, at = json.decoder.scanstring(text, at + 1)  # type: ignore[attr-defined]
        at = _skip_ws(text, at) + 1  # the colon
        start = _skip_ws(text, at)
        end = _value_end(text, start)
        yield key, start, end
        at = _skip_ws(text, end)
        if text[at] == "}":
            return
        at = _skip_ws(text, at + 1)


def element_spans(text: str, span: Span) -> list[tuple[int, int]]:
    """Spans of the elements of the array (or JSON Lines document) at ``span``."""
    if span.lines:
        return [
            (start + (len(line) - len(line.lstrip())), start + len(line.rstrip()))
            for start, end in _line_spans(text)
            if (line := text[start:end]).strip()
        ]
    out: list[tuple[int, int]] = []
    at = _skip_ws(text, span.start + 1)
    if text[at] == "]":
        return out
    while True:
        end = _value_end(text, at)
        out.append((at, end))
        at = _skip_ws(text, end)
        if text[at] == "]":
            return out
        at = _skip_ws(text, at + 1)


def _kind(text: str, span: Span) -> str:
    if span.lines:
        return "array"
    return {"{": "object", "[": "array"}.get(text[span.start], "scalar")


def _where(steps: list[str | int]) -> str:
    out = "$"
    for step in steps:
        if isinstance(step, int):
            out += f"[{step}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", step):
            out += f".{step}"
        else:
            out += f"[{json.dumps(step, ensure_ascii=False)}]"
    return out


def _names(keys: list[str], limit: int = 20) -> str:
    shown = ", ".join(json.dumps(k, ensure_ascii=False) for k in keys[:limit])
    return shown + (f", ... ({len(keys)} keys)" if len(keys) > limit else "")


def resolve(text: str, path: str) -> Span:
    """The span of the value at ``path``; a path that does not exist says where it stopped."""
    steps = parse_path(path)
    span = root(text)
    for depth, step in enumerate(steps):
        here = _where(steps[:depth])
        kind = _kind(text, span)
        if isinstance(step, int):
            if kind != "array":
                raise InputError(f"path {path}: {here} is an {kind}, not an array; stopped there")
            elements = element_spans(text, span)
            index = step + len(elements) if step < 0 else step
            if not 0 <= index < len(elements):
                raise InputError(
                    f"path {path}: {here} has {len(elements)} elements"
                    f"{f' (0-{len(elements) - 1})' if elements else ''}, no [{step}]; stopped there"
                )
            span = Span(*elements[index])
        else:
            if kind != "object":
                raise InputError(f"path {path}: {here} is an {kind}, not an object; stopped there")
            found: tuple[int, int] | None = None
            keys: list[str] = []
            for key, start, end in _member_spans(text, span):
                keys.append(key)
                if key == step:
                    found = (start, end)  # the last duplicate wins, as in json.loads
            if found is None:
                raise InputError(
                    f"path {path}: {here} has no key {json.dumps(step, ensure_ascii=False)} "
                    f"(keys: {_names(keys) or 'none'}); stopped there"
                )
            span = Span(*found)
    return span


def text_of(text: str, span: Span) -> str:
    """The original text of the value at ``span``."""
    return text[span.start : span.end]


def rows_text(
    text: str,
    span: Span,
    ranges: list[tuple[int, int]],
    where: str,
    elements: list[tuple[int, int]] | None = None,
) -> str:
    """Elements of the array at ``span`` in ``ranges`` (0-based, inclusive), sliced verbatim.

    Each contiguous range is the original text from its first element's first character to its
    last element's last character (separators and layout as written); several ranges are joined
    by ``,\\n``. For an array the result is wrapped in ``[`` ``]`` so it loads as an array of
    those elements; for JSON Lines it is the lines themselves (a JSON Lines text).
    """
    if _kind(text, span) != "array":
        raise InputError(f"rows select elements of an array; {where} is an {_kind(text, span)}")
    if elements is None:
        elements = element_spans(text, span)
    if not elements:
        raise InputError(f"rows: the array at {where} is empty")
    parts: list[str] = []
    for first, last in ranges:
        if last >= len(elements):
            raise InputError(
                f"rows={first}-{last}: the array at {where} has {len(elements)} elements "
                f"(rows 0-{len(elements) - 1})"
            )
        parts.append(text[elements[first][0] : elements[last][1]])
    if span.lines:
        return "\n".join(parts)
    return "[" + ",\n".join(parts) + "]"
