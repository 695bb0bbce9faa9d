"""Python token streams for the layout writer: the C tokenizer where it can be used, else
:mod:`tokenize`, and the comments that must survive.

CPython's C tokenizer (the 3.11 form of ``_tokenize.TokenizerIter``) is six times faster than
:mod:`tokenize` but drops most comments, so :func:`fast_scan` is used only when every comment to
keep is accounted for; :func:`scan` also copes with input cut off inside a bracket or a string.
"""

from __future__ import annotations

import io
import re
import tokenize
from typing import Any

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
_EXACT_OP_TYPES = frozenset(tokenize.EXACT_TOKEN_TYPES.values())

Token = tuple[int, str, tuple[int, int], tuple[int, int]]  # type, text, start, end


def keep_comment_line(row: int, text: str) -> bool:
    """Comments that survive: shebang, encoding cookie, type-checker directives."""
    if row <= 2 and (text.startswith("#!") or CODING.match(text)):
        return True
    return bool(KEEP_COMMENT.match(text))


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


def token_stream(
    src: str, scanned: tuple[list[tokenize.TokenInfo], str] | None = None
) -> tuple[list[tuple[int, str]], list[int], str] | None:
    """Significant tokens, the indent depth of each logical line (shifted so the shallowest is
    0) and the untokenizable tail; None if ``src`` does not tokenize. Comments and layout
    newlines are left out. ``scanned``: what :func:`scan` gave for ``src``, when at hand."""
    toks: list[tuple[int, str]] = []
    depths: list[int] = []
    depth, at_start = 0, True
    try:
        tokens, tail = scanned if scanned is not None else scan(src)
    except (tokenize.TokenError, SyntaxError):
        return None
    for t in tokens:
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
