"""The Python pass: shorter source with the same AST.

* Comments are dropped, except a shebang, an encoding cookie (it changes how bytes decode) and
  type-checker directives (``# type:``, ``# pyright:``, ``# mypy:``, ``# pyre-``): they change
  what a type-checker accepts. Linter pragmas (``# noqa``, ``# pylint:``, ``# pragma: no cover``)
  only steer tools and go.
* Blank lines go, indentation becomes one space per level, spaces between tokens stay only where
  two tokens would otherwise fuse (``not x``, ``1 .real``, ``* *``), lines continued with a
  backslash or inside brackets become one line, a block of simple statements moves onto its
  header (``if x:return y``) and runs of simple statements are joined with ``;``. A trailing
  comma goes where it changes nothing (``f(a,)``, ``[a,]``; ``(a,)`` and ``x[a,]`` keep theirs),
  and ``1, 200`` keeps its space so it never reads as one number. String bytes are never
  touched.
* ``strip_docstrings=True`` also drops docstrings; a body left empty gets ``pass``.
* An indented fragment (a method cut out of its class) is shifted to column 0.

Check: the AST of the output equals the input's, field by field as ``ast.dump`` compares them
(docstrings removed from both sides when stripped). Input that does not parse is checked by
comparing token streams instead. When a check fails, a safer pass (blank lines, comment-only
lines and trailing spaces only) is tried and checked the same way; failing that, the input comes
back unchanged. ``checks`` and ``notes`` of the result say which of these happened.

Modules: tokens in :mod:`~compression_layer.compress.structural.python.tokens`, the writer in
:mod:`~compression_layer.compress.structural.python.layout`, parsing and tree comparison in
:mod:`~compression_layer.compress.structural.python.ast_check`.
"""

from __future__ import annotations

import ast
import gc
import threading
import tokenize
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from compression_layer.compress.structural.output import StructuralOutput
from compression_layer.compress.structural.python import ast_check as pyast
from compression_layer.compress.structural.python import layout as layout
from compression_layer.compress.structural.python import tokens as pytokens


def compress_python(code: str, *, strip_docstrings: bool = False) -> StructuralOutput:
    """Compress Python source without changing its AST (see the module docstring)."""

    with _gc_paused():
        text, checks, notes = _compress(code, strip_docstrings)
    return StructuralOutput(text=text, checks=checks, notes=notes)


def _compress(code: str, strip_docstrings: bool) -> tuple[str, dict[str, bool], list[str]]:
    # What Python's own reader does: universal newlines, a UTF-8 BOM means nothing more.
    src = code.replace("\r\n", "\n").replace("\r", "\n").removeprefix("\ufeff")
    parsed = pyast.parse_fragment(src)
    notes: list[str] = []
    if parsed is None:
        notes.append("python: input does not parse; checked by token stream instead of AST")
    fast = parsed is not None  # the C tokenizer: only for input that parses
    scans: dict[str, Any] = {}  # the input's tokenize scan, made once for every pass below
    for strip in [True, False] if strip_docstrings and parsed is not None else [False]:
        for use_fast in [True, False] if fast else [False]:
            try:
                out = _rewrite(src, parsed, strip, use_fast, scans)
            except (layout.Unsupported, tokenize.TokenError, SyntaxError) as exc:
                notes.append(f"python: token pass not possible ({exc})")
                break
            if out is None:
                continue  # the fast tokenizer is not available here
            checks = _verify(src, parsed, out, strip, scans)
            if checks is not None:
                return out, checks, notes
            notes.append(f"python: check failed (strip_docstrings={strip}, fast={use_fast})")
    safe = _safe_python(src, scans)
    checks = _verify(src, parsed, safe, False, scans)
    if checks is None:
        notes.append("python: safe pass check failed; returned unchanged")
        return code, {"parsed": parsed is not None, "unchanged": True}, notes
    notes.append("python: used the safe pass (blank lines, comments, trailing spaces)")
    return safe, {**checks, "safe_pass": True}, notes


def _rewrite(
    src: str, parsed: tuple[ast.Module, int] | None, strip: bool, fast: bool, scans: dict[str, Any]
) -> str | None:
    toks: Sequence[Any] | None
    tail = ""
    if fast:
        toks = pytokens.fast_scan(src)
        if toks is None:
            return None
    else:
        toks, tail = _scan(src, scans)
    docs = _docstrings(*parsed, src, byte_cols=fast) if strip and parsed else []
    return layout.rewrite(src, toks, tail, docs, join=parsed is not None)


def _scan(src: str, scans: dict[str, Any]) -> tuple[list[tokenize.TokenInfo], str]:
    if "scan" not in scans:
        try:
            scans["scan"] = pytokens.scan(src)
        except (tokenize.TokenError, SyntaxError) as exc:
            scans["scan"] = exc
    found = scans["scan"]
    if isinstance(found, Exception):
        raise found
    return found  # type: ignore[no-any-return]


def _verify(
    src: str,
    parsed: tuple[ast.Module, int] | None,
    out: str,
    strip: bool,
    scans: dict[str, Any],
) -> dict[str, bool] | None:
    """The checks that passed, or None when ``out`` may not mean what ``src`` means."""
    if parsed is None:
        if "stream" not in scans:
            try:
                scans["stream"] = pytokens.token_stream(src, _scan(src, scans))
            except (tokenize.TokenError, SyntaxError):
                scans["stream"] = None
        expected = scans["stream"]
        if expected is not None and expected == pytokens.token_stream(out):
            return {"parsed": False, "tokens_equal": True}
        return None
    tree = parsed[0]
    other = pyast.parse_fragment(out)
    if other is None:
        return None
    if strip:
        pyast.drop_docstrings(other[0])
        dropped = pyast.drop_docstrings(tree)
        try:
            same = pyast.same_tree(tree, other[0])
        finally:
            for owner, body in dropped:  # the caller's tree is used again if this check fails
                owner.body = body
    else:
        same = pyast.same_tree(tree, other[0])
    if not same:
        return None
    return {"parsed": True, "ast_equal": True}


def _docstrings(tree: ast.Module, shift: int, src: str, *, byte_cols: bool) -> list[layout.Doc]:
    """Docstring statements, positioned like the tokens: ``ast`` counts UTF-8 bytes, the
    ``tokenize`` module counts characters."""
    lines = src.split("\n")

    def pos(row: int, col: int) -> tuple[int, int]:
        if byte_cols:
            return row, col
        line = lines[row - 1] if 0 < row <= len(lines) else ""
        return row, len(line.encode("utf-8")[:col].decode("utf-8", errors="ignore"))

    docs = []
    for node in pyast.doc_owners(tree):
        if node.body and pyast.is_doc(node.body[0]):
            stmt = node.body[0]
            start = pos(stmt.lineno - shift, stmt.col_offset)
            end = pos((stmt.end_lineno or stmt.lineno) - shift, stmt.end_col_offset or 0)
            docs.append(layout.Doc(start, end, len(node.body) == 1))
    return docs


def _safe_python(src: str, scans: dict[str, Any]) -> str:
    """Drop blank and comment-only lines and trailing spaces; rows a string spans stay as-is."""
    try:
        toks, tail = _scan(src, scans)
    except (tokenize.TokenError, SyntaxError):
        return src
    lines = src.split("\n")
    frozen: set[int] = set()  # rows touched by a multi-line string
    if tail:
        frozen.update(range(len(lines) - tail.count("\n"), len(lines) + 1))
    code_rows: set[int] = set()
    opened: list[int] = []
    for tok in toks:
        if tok.type in pytokens.STRING_STARTS:
            opened.append(tok.start[0])
        elif tok.type in pytokens.STRING_ENDS and opened:
            frozen.update(range(opened.pop(), tok.end[0] + 1))
        elif tok.type == tokenize.STRING and tok.end[0] > tok.start[0]:
            frozen.update(range(tok.start[0], tok.end[0] + 1))
        if tok.type not in pytokens.LAYOUT and tok.type not in (
            tokenize.DEDENT,
            tokenize.ENDMARKER,
        ):
            code_rows.update(range(tok.start[0], tok.end[0] + 1))
    out = []
    for row, line in enumerate(lines, start=1):
        continued = row > 1 and lines[row - 2].rstrip().endswith("\\")
        if row in frozen or continued or line.rstrip().endswith("\\"):
            out.append(line)
        elif row in code_rows or (line.strip() and pytokens.keep_comment_line(row, line.strip())):
            out.append(line.rstrip())
    return "\n".join(out)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic GC while ASTs are built: their millions of short-lived nodes trigger
    collections that double the run time and free nothing (ASTs hold no cycles)."""
    global _gc_holders
    with _gc_lock:
        counted = bool(_gc_holders) or gc.isenabled()
        if counted:
            gc.disable()
            _gc_holders += 1
    try:
        yield
    finally:
        if counted:
            with _gc_lock:
                _gc_holders -= 1
                if not _gc_holders:
                    gc.enable()


_gc_lock = threading.Lock()
_gc_holders = 0  # calls inside _gc_paused that keep the GC off (0: it is not ours to restore)
