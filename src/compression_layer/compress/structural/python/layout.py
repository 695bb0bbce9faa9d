"""The Python layout writer: re-emit a token stream with the fewest characters and tokens.

Used by :mod:`compression_layer.compress.structural.python.compact`, which checks every result
the AST; the tokens come from :mod:`compression_layer.compress.structural.python.tokens`. Written:
one space per indent level, spaces only where two tokens would fuse, bracketed and backslash
continuations on one line, simple statements joined (``if x:a;b``), trailing commas dropped
where they change nothing (``f(a,)``, never ``(a,)``).
"""

from __future__ import annotations

import keyword
import tokenize
from collections.abc import Sequence
from typing import Any, NamedTuple

from compression_layer.compress.structural.python.tokens import (
    CODING,
    STRING_ENDS,
    STRING_STARTS,
    keep_comment_line,
)

_OPERATORS = frozenset(tokenize.EXACT_TOKEN_TYPES)
# Two operator tokens fuse when the first plus the next character starts a longer operator.
_OP_PREFIXES = frozenset(op[:i] for op in _OPERATORS for i in range(2, len(op) + 1))
_NAME, _OP, _NUMBER, _STRING = tokenize.NAME, tokenize.OP, tokenize.NUMBER, tokenize.STRING
_NEWLINE, _NL, _COMMENT = tokenize.NEWLINE, tokenize.NL, tokenize.COMMENT
_INDENT, _DEDENT, _ERRORTOKEN = tokenize.INDENT, tokenize.DEDENT, tokenize.ERRORTOKEN
# Tokens that place lines rather than write text (all the other kinds are written).
_STRUCTURE = frozenset(
    {_INDENT, _DEDENT, _NEWLINE, _NL, _COMMENT, _ERRORTOKEN, tokenize.ENDMARKER, tokenize.ENCODING}
)
_TRIM_OPS = frozenset(",()[]{}:")
_OPENERS = frozenset("([{")
# Names after which ``(`` and ``[`` neither call nor subscript (soft keywords too: ``match (a,):``).
_KEYWORDS = frozenset(keyword.kwlist) | frozenset(keyword.softkwlist)
# First tokens of compound statements (soft keywords too: joining never guesses about them).
_COMPOUND = frozenset(
    {"if", "elif", "else", "for", "while", "try", "except", "finally", "with", "def", "class",
     "async", "match", "case", "@"}
)  # fmt: skip


class Unsupported(Exception):
    """The token pass cannot handle this input; the caller tries a safer one."""


class Doc(NamedTuple):
    """A docstring statement to drop, by its token positions."""

    start: tuple[int, int]
    end: tuple[int, int]
    sole: bool  # the only statement of its body: replaced by ``pass``


_WORD = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


def needs_space(prev_type: int, prev: str, cur_type: int, cur: str) -> bool:
    """Would writing ``cur`` right after ``prev`` make the tokenizer see something else?"""
    a, b = prev[-1], cur[0]
    if b in _WORD or b > "\x7f":  # non-ASCII outside strings can only be part of a name
        return a in _WORD or a > "\x7f" or prev_type == tokenize.NUMBER  # ``not x``, ``1 if``
    if prev_type == tokenize.OP:
        if cur_type == tokenize.OP:
            return prev + b in _OP_PREFIXES
        return a == "." and cur_type == tokenize.NUMBER
    if prev_type == tokenize.NUMBER:
        return b == "."  # ``1 .real``
    # ``""`` followed by ``"x"`` would read as a triple quote.
    return prev_type == tokenize.STRING and cur_type == tokenize.STRING and b == a


class _Line(NamedTuple):
    level: int
    text: str
    kind: str  # "simple", "compound", "comment" (nothing but a kept comment) or "fixed"


class _Bracket:
    """An open bracket, for deciding whether a trailing comma before its closer can go."""

    __slots__ = ("commas", "lambdas", "single_ok")

    def __init__(self, single_ok: bool) -> None:
        self.single_ok = single_ok  # ``f(a,)``, ``[a,]``, ``{a,}``: the comma changes nothing
        self.commas = 0  # commas at this level, outside lambda parameter lists
        self.lambdas = 0  # lambdas at this level still waiting for their ``:``


def _opens(bracket: str, prev_type: int, prev: str) -> _Bracket:
    # After the end of an expression ``(`` is a call and ``[`` a subscript: ``f(a,)`` is
    # ``f(a)`` but ``x[a,]`` is ``x[(a,)]``; elsewhere ``(a,)`` is a tuple and ``[a,]`` a list.
    ends = (
        (prev_type == _NAME and prev not in _KEYWORDS)
        or (prev_type == _OP and prev in (")", "]"))
        or prev_type == _STRING
    )
    if bracket == "(":
        return _Bracket(ends)
    return _Bracket(bracket == "{" or not ends)


def _grouped(before_comma: tuple[int, str], number: str) -> bool:
    """Would ``1,200`` (two numbers, one comma) read as one thousands-grouped number? Such
    pairs keep the space after the comma (``1, 200``), so their facts stay two numbers."""
    kind, before = before_comma
    return (
        kind == _NUMBER
        and len(number) == 3
        and number.isdigit()
        and len(before) <= 3
        and before.isdigit()
    )


def _line(level: int, parts: list[str], first: str, has_comment: bool, fixed: bool) -> _Line:
    if not first:
        kind = "comment"
    elif fixed or has_comment:
        kind = "fixed"
    else:
        kind = "compound" if first in _COMPOUND else "simple"
    return _Line(level, "".join(parts), kind)


def _join_lines(lines: list[_Line]) -> list[_Line]:
    """Put a block of simple statements on its header line (``if x:a;b``) and join runs of
    simple statements with ``;``: each saves the newline and indent tokens of a line."""
    out: list[_Line] = []
    i, n = 0, len(lines)
    while i < n:
        line = lines[i]
        if line.kind == "compound" and line.text.endswith(":") and i + 1 < n:
            j = i + 1
            while j < n and lines[j].level == line.level + 1 and lines[j].kind == "simple":
                j += 1
            if j > i + 1 and (j == n or lines[j].level <= line.level):
                body = ";".join(ln.text for ln in lines[i + 1 : j])
                out.append(_Line(line.level, line.text + body, "compound"))
                i = j
                continue
        prev = out[-1] if out else None
        if line.kind == "simple" and prev and prev.kind == "simple" and prev.level == line.level:
            out[-1] = _Line(line.level, prev.text + ";" + line.text, "simple")
        else:
            out.append(line)
        i += 1
    return out


def rewrite(
    src: str, toks: Sequence[Any], tail: str, docs: Sequence[Doc], *, join: bool = True
) -> str:
    """Re-emit ``toks`` (``tokenize`` tokens or :func:`fast_scan` tuples) compactly.

    ``docs`` are docstrings to drop, positioned in the columns of ``toks``; ``tail`` is copied
    verbatim at the end. ``join=False`` keeps the token stream itself (one statement per line,
    trailing commas kept), for input checked by its token stream. Raises :class:`Unsupported`
    on tokens it cannot place.
    """
    # One pass, state in locals (this loop sees every token of the input).
    lines = src.split("\n")
    out: list[_Line] = []
    cur: list[str] = []  # the logical line being written
    prev_type, prev = _NEWLINE, ""  # prev is empty at the start of a physical line
    first, has_comment = "", False
    depth = line_level = 0
    doc_starts = {d.start: d for d in docs}
    skip_until: tuple[int, int] | None = None
    after_doc = False
    fstring_depth = 0
    fstring_from: tuple[int, int] = (0, 0)
    brackets: list[_Bracket] = []
    before_comma = (prev_type, prev)
    for tok in toks:
        kind, text = tok[0], tok[1]
        if skip_until is not None:
            if tok[2] < skip_until:
                continue
            skip_until = None
            after_doc = True
        if fstring_depth:  # Python >= 3.12: an f-string's parts, copied whole at its end
            if kind in STRING_STARTS:
                fstring_depth += 1
            elif kind in STRING_ENDS:
                fstring_depth -= 1
                if not fstring_depth:
                    kind, text = _STRING, _slice(lines, fstring_from, tok[3])
            if fstring_depth:
                continue
        elif kind in _STRUCTURE:
            if kind == _INDENT:
                depth += 1
            elif kind == _DEDENT:
                depth -= 1
            elif kind == _NEWLINE or (kind == _NL and prev_type == _COMMENT and not first):
                # A logical line ends, or a line holding nothing but a kept comment.
                if prev == ";" and prev_type == _OP:
                    cur.pop()  # a trailing ``;`` ends nothing; joining would double it
                if cur:
                    level = line_level if kind == _NEWLINE else depth
                    out.append(_line(level, cur, first, has_comment, False))
                cur, first, has_comment = [], "", False
                prev_type, prev = _NEWLINE, ""
                if kind == _NEWLINE:
                    after_doc = False
            elif kind == _NL:
                if prev_type == _COMMENT:  # a kept comment inside brackets ends its row
                    cur.append("\n")
                    prev_type, prev = _NL, ""
            elif kind == _COMMENT:
                if _keep_comment(text, tok[2][0], lines):
                    cur.append(" " + text if cur else text)  # never fuses: it starts with #
                    prev_type, prev = _COMMENT, text
                    has_comment = True
            elif kind == _ERRORTOKEN and text.strip():
                raise Unsupported(f"unexpected token {text!r} at line {tok[2][0]}")
            continue
        else:
            if not text:
                continue
            if after_doc:
                after_doc = False
                if text == ";":
                    continue
            if not cur:
                line_level = depth
            if doc_starts and tok[2] in doc_starts:
                doc = doc_starts[tok[2]]
                skip_until = doc.end
                if not doc.sole:
                    continue
                kind, text = _NAME, "pass"
            elif kind in STRING_STARTS:
                fstring_depth, fstring_from = 1, tok[2]
                continue
            if kind == _OP and text in _TRIM_OPS:
                if text == ",":
                    if brackets and not brackets[-1].lambdas:
                        brackets[-1].commas += 1
                    before_comma = (prev_type, prev)
                elif text in _OPENERS:
                    brackets.append(_opens(text, prev_type, prev))
                elif text == ":":
                    if brackets and brackets[-1].lambdas:
                        brackets[-1].lambdas -= 1
                elif brackets:
                    b = brackets.pop()
                    if join and prev == "," and prev_type == _OP and (b.single_ok or b.commas > 1):
                        cur.pop()  # a trailing comma: the same AST without it
                        prev_type, prev = before_comma
            elif kind == _NAME and text == "lambda" and brackets:
                brackets[-1].lambdas += 1
        if prev:  # needs_space, with its commonest cases first
            b = text[0]
            if b in _WORD or b > "\x7f":
                a = prev[-1]
                if (
                    a in _WORD
                    or a > "\x7f"
                    or prev_type == _NUMBER
                    or (a == "," and kind == _NUMBER and _grouped(before_comma, text))
                ):
                    cur.append(" ")
            elif prev_type != _NAME and needs_space(prev_type, prev, kind, text):
                cur.append(" ")
        cur.append(text)
        prev_type, prev = kind, text
        if not first:
            first = text
    if tail:
        if not cur:
            line_level = depth
        rest = tail.rstrip("\n")
        if prev and rest and needs_space(prev_type, prev, _STRING, rest):
            cur.append(" ")
        cur.append(rest)
        prev_type, prev = _STRING, rest
        first = first or rest
    if prev == ";" and prev_type == _OP:
        cur.pop()
    if cur:
        out.append(_line(line_level, cur, first, has_comment, bool(tail)))
    if join:
        out = _join_lines(out)
    base = min((ln.level for ln in out if ln.kind != "comment"), default=0)
    body = "\n".join(" " * max(0, ln.level - base) + ln.text for ln in out)
    return body + "\n" if src.endswith("\n") and body else body


def _keep_comment(text: str, row: int, lines: list[str]) -> bool:
    if row <= 2 and CODING.match(lines[row - 1]):
        return True
    return keep_comment_line(row, text)


def _slice(lines: list[str], start: tuple[int, int], end: tuple[int, int]) -> str:
    """Source text between two (row, character column) positions."""
    if start[0] == end[0]:
        return lines[start[0] - 1][start[1] : end[1]]
    parts = [lines[start[0] - 1][start[1] :], *lines[start[0] : end[0] - 1]]
    return "\n".join([*parts, lines[end[0] - 1][: end[1]]])
