"""Selectors evaluated on an original text: the exact part a reversible marker stands for.

:func:`select` is pure (no store, no I/O); the original store and the pipeline's marker check
both call it. The selectors are those of :mod:`compression_layer.compress.reversible`, and each
one narrows what the one before it selected, in this order:

1. ``path`` / ``rows`` (JSON): ``path=$.a.b[3]`` is the original text of that value;
   ``rows=A-B`` (0-based, inclusive; ``A-B,C`` for several ranges) are the elements A..B of the
   array at ``path`` (default ``$``). Rows come back as the verbatim original text from the first
   element's first character to the last element's last character (separators and layout as
   written), wrapped in ``[`` ``]`` so the result loads as a JSON array of exactly those
   elements (several ranges joined by ``,\\n``). JSON Lines (one document per line) is an array
   of its lines, and its rows are the lines themselves. Nothing is re-serialised: number texts,
   escapes and key order are the original's.
2. ``symbol=Name`` / ``Class.method`` / ``outer.inner`` (code): whole lines, from the first
   decorator (or annotation) line to the last line of the body. A name that is not fully
   qualified is accepted when exactly one definition ends with it.
3. ``lines=A-B`` (1-based, inclusive; ``A-B,C``): lines of what is selected so far (the whole
   original when neither of the above is given), split at ``\\n`` only (a ``\\r`` stays part of
   its line; a final newline does not start another line); several ranges are joined by ``\\n``.
4. ``match=TEXT``: the lines (of what is selected so far) that contain TEXT, case-sensitive,
   joined by ``\\n``.

With no selector the original comes back whole, byte for byte. A selector that selects nothing
is an :class:`~compression_layer.errors.InputError` that says why: the names that exist, the size
of what a range ran past, where a path stopped.
"""

from __future__ import annotations

import re
from functools import cached_property

from compression_layer.compress.reversible import SELECTOR_KEYS
from compression_layer.errors import InputError
from compression_layer.originals import jsonspan
from compression_layer.originals.symbols import Symbol, c_like_symbols, python_symbols

_RANGE = re.compile(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?")
_JS = frozenset({"javascript", "typescript", "js", "ts", "jsx", "tsx", "mjs", "cjs"})
_BRACES = frozenset(
    {
        "go",
        "java",
        "c",
        "cpp",
        "c++",
        "csharp",
        "c#",
        "cs",
        "rust",
        "kotlin",
        "swift",
        "scala",
        "php",
        "dart",
        "objc",
    }
)


def parse_ranges(spec: str, *, key: str, base: int) -> list[tuple[int, int]]:
    """``"3-9,15"`` -> ``[(3, 9), (15, 15)]``; numbers below ``base`` or reversed are refused."""
    out: list[tuple[int, int]] = []
    for part in str(spec).split(","):
        found = _RANGE.fullmatch(part)
        if found is None:
            raise InputError(
                f"{key}={spec!r}: write ranges as A-B or A, comma-separated (e.g. {key}=3-9,15)"
            )
        first = int(found.group(1))
        last = int(found.group(2)) if found.group(2) is not None else first
        if first < base or last < first:
            raise InputError(
                f"{key}={spec!r}: {part.strip()} is not a range of {key} "
                f"(numbered from {base}, first <= last)"
            )
        out.append((first, last))
    return out


def split_lines(text: str) -> list[str]:
    """Lines as the selectors count them: split at ``\\n``; a final newline adds no line."""
    lines = text.split("\n")
    if len(lines) > 1 and lines[-1] == "":
        lines.pop()
    return lines


def language_of(domain: str) -> str | None:
    """``"code:python"`` -> ``"python"``; None for a domain without a language."""
    language = domain.strip().lower().partition(":")[2]
    return language or None


class View:
    """One original with what selectors need computed once (lines, symbols), for many calls."""

    def __init__(self, original: str, domain: str) -> None:
        self.original = original
        self.domain = domain
        self._spans: dict[str, jsonspan.Span] = {}
        self._elements: dict[jsonspan.Span, list[tuple[int, int]]] = {}

    @cached_property
    def lines(self) -> list[str]:
        return split_lines(self.original)

    @cached_property
    def symbols(self) -> list[Symbol]:
        language = language_of(self.domain)
        if language == "python":
            try:
                return python_symbols(self.original)
            except SyntaxError as exc:
                raise InputError(
                    f"symbol: the original does not parse as Python (line {exc.lineno}: "
                    f"{exc.msg}); select by lines instead"
                ) from exc
        if language in _JS:
            return c_like_symbols(self.original, js=True)
        if language in _BRACES:
            return c_like_symbols(self.original, js=False)
        if language is None or language not in ("shell", "bash", "sql"):
            try:
                return python_symbols(self.original)
            except SyntaxError:
                return c_like_symbols(self.original, js=True)
        raise InputError(f"symbol: no symbols are read from {language} code; select by lines")

    def select(self, **selector: str | int | None) -> str:
        """The part of the original ``selector`` names (see the module doc); errors say why not."""
        given = {k: str(v) for k, v in selector.items() if v not in (None, "")}
        unknown = sorted(set(given) - set(SELECTOR_KEYS))
        if unknown:
            raise InputError(
                f"unknown selector {', '.join(unknown)}; use {', '.join(SELECTOR_KEYS)}"
            )
        if "symbol" in given and ("path" in given or "rows" in given):
            raise InputError("symbol selects code and path/rows select JSON: give one of them")
        text = self.original
        if "path" in given or "rows" in given:
            text = self._json(given.get("path", "$"), given.get("rows"))
        elif "symbol" in given:
            text = self._symbol(given["symbol"])
        if "lines" in given:
            text = self._lines(text, given["lines"], whole=text is self.original)
        if "match" in given:
            text = _matching(text, given["match"])
        return text

    def _json(self, path: str, rows: str | None) -> str:
        span = self._spans.get(path)
        if span is None:
            span = self._spans[path] = jsonspan.resolve(self.original, path)
        if rows is None:
            return jsonspan.text_of(self.original, span)
        ranges = parse_ranges(rows, key="rows", base=0)
        elements = self._elements.get(span)
        if elements is None and (span.lines or self.original[span.start] == "["):
            elements = self._elements[span] = jsonspan.element_spans(self.original, span)
        return jsonspan.rows_text(self.original, span, ranges, path, elements)

    def _symbol(self, name: str) -> str:
        wanted = name.strip()
        symbols = self.symbols
        found = [s for s in symbols if s.name == wanted]
        if not found:
            found = [s for s in symbols if s.name.endswith(f".{wanted}")]
            if len({s.name for s in found}) > 1:
                several = ", ".join(sorted({s.name for s in found}))
                raise InputError(f"symbol={wanted} is ambiguous: {several}; give the full name")
        if not found:
            names = sorted({s.name for s in symbols})
            shown = ", ".join(names[:40]) + (
                f", ... ({len(names)} names)" if len(names) > 40 else ""
            )
            raise InputError(
                f"no symbol {wanted!r} in this original; "
                + (f"symbols: {shown}" if names else "it defines no functions or classes")
            )
        lines = self.lines
        return "\n".join("\n".join(lines[s.first - 1 : s.last]) for s in found)

    def _lines(self, text: str, spec: str, *, whole: bool) -> str:
        lines = self.lines if whole else split_lines(text)
        ranges = parse_ranges(spec, key="lines", base=1)
        for first, last in ranges:
            if last > len(lines):
                what = "the original" if whole else "the selection"
                raise InputError(
                    f"lines={spec}: {what} has {len(lines)} lines, so {first}-{last} runs past "
                    f"its end"
                )
        return "\n".join("\n".join(lines[first - 1 : last]) for first, last in ranges)


def _matching(text: str, needle: str) -> str:
    found: list[str] = []
    if needle and "\n" not in needle:  # str.find over the text, not a test per line
        pos = 0
        while (at := text.find(needle, pos)) >= 0:
            start = text.rfind("\n", 0, at) + 1
            end = text.find("\n", at)
            end = len(text) if end < 0 else end
            found.append(text[start:end])
            pos = end + 1
    elif needle == "":
        found = split_lines(text)
    if not found:
        raise InputError(f"match={needle}: no line of the selection contains it")
    return "\n".join(found)


_LAST: list[View] = []  # the last original selected from: a pipeline checks many markers of one


def view_of(original: str, domain: str) -> View:
    """A :class:`View` of ``original``, reused while the same text object is asked again."""
    last = _LAST[0] if _LAST else None
    if last is not None and last.original is original and last.domain == domain:
        return last
    view = View(original, domain)
    _LAST[:] = [view]
    return view


def select(original: str, domain: str, **selector: str | int | None) -> str:
    """The exact part of ``original`` that ``selector`` names (keys of ``reversible``).

    ``domain`` is the original's domain label (``json``, ``log``, ``code:python``, ...); it
    picks how symbols are read. No selector: the whole original. See the module doc for what
    each selector returns and how they combine.
    """
    return view_of(original, domain).select(**selector)
