"""The Python layout writer: re-emit a token stream with the fewest characters and tokens.

Used by :mod:`compression_layer.compress.structural_python`, which checks every result against
the AST. Tokens come from CPython's C tokenizer where this interpreter offers the 3.11 form of it
(six times faster than :mod:`tokenize`, but it drops most comments, so it is used only when every
comment to keep is accounted for) and from :mod:`tokenize` otherwise.
"""

from __future__ import annotations

import io
import re
import tokenize
from collections.abc import Sequence
from typing import Any, NamedTuple

KEEP_COMMENT = re.compile(r"#\s*(?:type:|pyright:|mypy:|pyre-)")
CODING = re.compile(r"^[ \t\f]*#.*?coding[:=][ \t]*[-\w.]+")
# Python >= 3.12 splits f-strings (3.14: t-strings too) into parts; they are copied whole.
STRING_STARTS = frozenset(
    getattr(tokenize, name)
    for name in ("FSTRING_START", "TSTRING_START")
    if hasattr(tokenize, name)
)
STRING_ENDS = frozenset(
    getattr(tokenize, name) for name in ("FSTRING_END", "TSTRING_END") if hasattr(tokenize, name)
)
# Token types whose layout carries no meaning of its own (re-created from INDENT/DEDENT/NEWLINE).
LAYOUT = frozenset({tokenize.NL, tokenize.COMMENT, tokenize.ENCODING})
_OPERATORS = frozenset(tokenize.EXACT_TOKEN_TYPES)
_EXACT_OP_TYPES = frozenset(tokenize.EXACT_TOKEN_TYPES.values())
# Two operator tokens fuse when the first plus the next character starts a longer operator.
_OP_PREFIXES = frozenset(op[:i] for op in _OPERATORS for i in range(2, len(op) + 1))
# First tokens of compound statements (soft keywords too: joining never guesses about them).
_COMPOUND = frozenset(
    {"if", "elif", "else", "for", "while", "try", "except", "finally", "with", "def", "class",
     "async", "match", "case", "@"}
)  # fmt: skip

Token = tuple[int, str, tuple[int, int], tuple[int, int]]  # type, text, start, end


class Unsupported(Exception):
    """The token pass cannot handle this input; the caller tries a safer one."""


class Doc(NamedTuple):
    """A docstring statement to drop, by its token positions."""

    start: tuple[int, int]
    end: tuple[int, int]
    sole: bool  # the only statement of its body: replaced by ``pass``


def scan(src: str) -> tuple[list[tokenize.TokenInfo], str]:
    """All tokens, plus the untokenizable tail of a truncated input ("" when complete).

    A fragment cut inside a bracket or a triple-quoted string still yields every token before
    the cut; the tail (the unterminated string) is then carried over verbatim.
    """
    toks: list[tokenize.TokenInfo] = []
    try:
        toks.extend(tokenize.generate_tokens(io.StringIO(src).readline))
    except tokenize.TokenError as exc:
        where = exc.args[1] if len(exc.args) > 1 else None
        if not (isinstance(where, tuple) and len(where) == 2):
            raise
        row, col = where
        lines = src.split("\n")
        if row > len(lines):
            return toks, ""
        offset = sum(len(line) + 1 for line in lines[: row - 1]) + col
        return toks, src[offset:]
    return toks, ""


def fast_scan(src: str) -> list[Token] | None:
    """Tokens from the C tokenizer (columns in UTF-8 bytes), for source that parses.

    That tokenizer reports only the comment that ends a logical line (as the text of its
    NEWLINE token). None, meaning "use :func:`scan`", when it is not available, when the first
    lines hold a shebang or encoding cookie, or when a comment to keep may sit elsewhere (more
    matches of :data:`KEEP_COMMENT` in the source than kept line-end comments seen).
    """
    if _c_tokenizer is None:
        return None
    if any(line.startswith("#!") or CODING.match(line) for line in src.split("\n", 2)[:2]):
        return None
    try:
        raw = list(_c_tokenizer(src))
    except (SyntaxError, TypeError, ValueError):
        return None
    ops, op, newline, comment = _EXACT_OP_TYPES, tokenize.OP, tokenize.NEWLINE, tokenize.COMMENT
    toks: list[Token] = []
    kept = 0
    for text, kind, srow, erow, scol, ecol, _line in raw:
        if kind == newline and text[:1] == "#":
            toks.append((comment, text, (srow, scol), (erow, ecol)))
            kept += KEEP_COMMENT.match(text) is not None
            toks.append((newline, "", (erow, ecol), (erow, ecol)))
        else:
            toks.append((op if kind in ops else kind, text, (srow, scol), (erow, ecol)))
    if kept != len(KEEP_COMMENT.findall(src)):
        return None
    return toks


def _load_c_tokenizer() -> Any:
    try:
        from _tokenize import TokenizerIter  # type: ignore[import-not-found]

        sample = list(TokenizerIter("x\n"))  # 3.11 form: (string, type, rows, cols, line)
    except (ImportError, TypeError):
        return None
    if not sample or not isinstance(sample[0], tuple) or len(sample[0]) != 7:
        return None
    return TokenizerIter


_c_tokenizer = _load_c_tokenizer()


def token_stream(src: str) -> tuple[list[tuple[int, str]], list[int], str] | None:
    """Significant tokens, the indent depth of each logical line (shifted so the shallowest is
    0) and the untokenizable tail; None if ``src`` does not tokenize. Comments and layout
    newlines are left out."""
    toks: list[tuple[int, str]] = []
    depths: list[int] = []
    depth, at_start = 0, True
    try:
        scanned, tail = scan(src)
    except (tokenize.TokenError, SyntaxError):
        return None
    for t in scanned:
        if t.type == tokenize.INDENT:
            depth += 1
        elif t.type == tokenize.DEDENT:
            depth -= 1
        elif t.type == tokenize.NEWLINE:
            toks.append((t.type, ""))
            at_start = True
        elif t.type not in LAYOUT and not (t.type == tokenize.ERRORTOKEN and t.string.isspace()):
            if at_start:
                depths.append(depth)
                at_start = False
            toks.append((t.type, t.string))
    base = min(depths, default=0)
    return toks, [d - base for d in depths], tail


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


def keep_comment_line(row: int, text: str) -> bool:
    """Comments that survive: shebang, encoding cookie, type-checker directives."""
    if row <= 2 and (text.startswith("#!") or CODING.match(text)):
        return True
    return bool(KEEP_COMMENT.match(text))


class _Line(NamedTuple):
    level: int
    text: str
    kind: str  # "simple", "compound", "comment" (nothing but a kept comment) or "fixed"


class _Writer:
    """Collects logical lines with their indent level and kind, and places the spaces."""

    def __init__(self, join: bool) -> None:
        self.join = join
        self.lines: list[_Line] = []
        self.cur: list[str] = []
        self.prev_type = tokenize.NEWLINE
        self.prev = ""  # empty at the start of a physical line: no space needed there
        self.first = ""
        self.has_comment = False

    def put(self, tok_type: int, text: str) -> None:
        if self.prev and needs_space(self.prev_type, self.prev, tok_type, text):
            self.cur.append(" ")
        self.cur.append(text)
        self.prev_type, self.prev = tok_type, text
        if tok_type == tokenize.COMMENT:
            self.has_comment = True
        elif not self.first:
            self.first = text

    def break_physical(self) -> None:
        """A newline inside brackets, needed after a kept comment."""
        self.cur.append("\n")
        self.prev_type, self.prev = tokenize.NL, ""

    def end_line(self, level: int, fixed: bool = False) -> None:
        if self.prev == ";" and self.prev_type == tokenize.OP:
            self.cur.pop()  # a trailing ``;`` ends nothing; joining would double it
        if self.cur:
            if not self.first:
                kind = "comment"
            elif fixed or self.has_comment:
                kind = "fixed"
            else:
                kind = "compound" if self.first in _COMPOUND else "simple"
            self.lines.append(_Line(level, "".join(self.cur), kind))
        self.cur = []
        self.first = ""
        self.has_comment = False
        self.prev_type, self.prev = tokenize.NEWLINE, ""

    def text(self, trailing_newline: bool) -> str:
        lines = _join_lines(self.lines) if self.join else self.lines
        base = min((ln.level for ln in lines if ln.kind != "comment"), default=0)
        body = "\n".join(" " * max(0, ln.level - base) + ln.text for ln in lines)
        return body + "\n" if trailing_newline and body else body


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
    verbatim at the end; ``join=False`` keeps one statement per line (for input checked by its
    token stream, which joining changes). Raises :class:`Unsupported` on tokens it cannot place.
    """
    w = _Writer(join)
    lines = src.split("\n")
    depth = line_level = 0
    doc_starts = {d.start: d for d in docs}
    skip_until: tuple[int, int] | None = None
    after_doc = False
    fstring_depth = 0
    fstring_from: tuple[int, int] = (0, 0)
    for tok in toks:
        kind, text, start = tok[0], tok[1], tok[2]
        if skip_until is not None:
            if start < skip_until:
                continue
            skip_until = None
            after_doc = True
        if fstring_depth:
            if kind in STRING_STARTS:
                fstring_depth += 1
            elif kind in STRING_ENDS:
                fstring_depth -= 1
                if not fstring_depth:
                    w.put(tokenize.STRING, _slice(lines, fstring_from, tok[3]))
            continue
        if kind == tokenize.INDENT:
            depth += 1
        elif kind == tokenize.DEDENT:
            depth -= 1
        elif kind == tokenize.NEWLINE:
            w.end_line(line_level)
            after_doc = False
        elif kind == tokenize.NL:
            if w.prev_type == tokenize.COMMENT:
                if w.first:
                    w.break_physical()
                else:
                    w.end_line(depth)
        elif kind == tokenize.COMMENT:
            if _keep_comment(text, start[0], lines):
                w.put(tokenize.COMMENT, (" " if w.cur else "") + text)
        elif kind in (tokenize.ENDMARKER, tokenize.ENCODING):
            continue
        elif kind == tokenize.ERRORTOKEN:
            if text.strip():
                raise Unsupported(f"unexpected token {text!r} at line {start[0]}")
        elif text:
            if after_doc and text == ";":
                after_doc = False
                continue
            after_doc = False
            if not w.cur:
                line_level = depth
            doc = doc_starts.get(start)
            if doc is not None:
                skip_until = doc.end
                if doc.sole:
                    w.put(tokenize.NAME, "pass")
                continue
            if kind in STRING_STARTS:
                fstring_depth, fstring_from = 1, start
                continue
            w.put(kind, text)
    if tail:
        if not w.cur:
            line_level = depth
        w.put(tokenize.STRING, tail.rstrip("\n"))
    w.end_line(line_level, fixed=bool(tail))
    return w.text(src.endswith("\n"))


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
