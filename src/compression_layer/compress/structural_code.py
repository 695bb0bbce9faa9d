"""Meaning-preserving code passes: Python through ``tokenize``/``ast``, other languages through
tree-sitter, and a string-aware whitespace pass for languages without a grammar.

Every pass is checked before its output is used and falls back to something safer when the check
fails; the ``checks`` and ``notes`` of the result say what was verified and what was given up.

Python choices:

* comments are dropped, except a shebang, an encoding cookie (it changes how bytes decode) and
  ``# type:`` comments (``# type: ignore`` and type comments change what type-checkers accept).
  Linter pragmas (``# noqa``, ``# pylint:``, ``# pragma: no cover``) only steer tools and go.
* blank lines go, indentation becomes one space per level, spaces between tokens are kept only
  where two tokens would otherwise fuse (``not x``, ``1 .real``, ``* *``), and lines joined with a
  backslash or inside brackets become one line. String bytes are never touched.
* ``strip_docstrings=True`` also drops docstrings; a body left empty gets ``pass``.
* indented fragments (a method cut out of a class) are shifted to column 0.

The check is AST equality as ``ast.dump`` sees it (docstrings removed from both sides when
stripped); input that does not parse is checked by comparing token streams instead.
"""

from __future__ import annotations

import ast
import gc
import io
import re
import threading
import tokenize
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from compression_layer.compress.structural import StructuralOutput

_KEEP_COMMENT = re.compile(r"#\s*type:")
_CODING = re.compile(r"^[ \t\f]*#.*?coding[:=][ \t]*[-\w.]+")
_OPERATORS = frozenset(tokenize.EXACT_TOKEN_TYPES)
# Token types whose layout carries no meaning of its own (re-created from INDENT/DEDENT/NEWLINE).
_LAYOUT = frozenset({tokenize.NL, tokenize.COMMENT, tokenize.ENCODING})
_FSTRING_START = getattr(tokenize, "FSTRING_START", -1)
_FSTRING_END = getattr(tokenize, "FSTRING_END", -1)
_DOC_OWNERS = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)


class _Fallback(Exception):
    """The pass cannot handle this input; the caller tries a safer one."""


class _Doc(NamedTuple):
    start: tuple[int, int]
    end: tuple[int, int]
    sole: bool  # the only statement of its body: replaced by ``pass``


def _output(text: str, checks: dict[str, bool], notes: list[str]) -> StructuralOutput:
    from compression_layer.compress.structural import StructuralOutput

    return StructuralOutput(text=text, checks=checks, notes=notes)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic GC while ASTs are built: their millions of short-lived nodes trigger
    collections that double the run time and free nothing (ASTs hold no cycles)."""
    global _gc_holders
    with _gc_lock:
        if _gc_holders == 0 and gc.isenabled():
            gc.disable()
            _gc_holders = 1
        elif _gc_holders:
            _gc_holders += 1
    try:
        yield
    finally:
        with _gc_lock:
            if _gc_holders:
                _gc_holders -= 1
                if _gc_holders == 0:
                    gc.enable()


_gc_lock = threading.Lock()
_gc_holders = 0  # calls inside _gc_paused that found the GC enabled (0: we did not disable it)


def compress_python(code: str, *, strip_docstrings: bool = False) -> StructuralOutput:
    """Compress Python source without changing its AST (see the module docstring)."""
    with _gc_paused():
        return _compress_python(code, strip_docstrings)


def _compress_python(code: str, strip_docstrings: bool) -> StructuralOutput:
    src = code.replace("\r\n", "\n").replace("\r", "\n")  # what Python's own reader does
    parsed = _parse_fragment(src)
    notes: list[str] = []
    if parsed is None:
        notes.append("python: input does not parse; checked by token stream instead of AST")
    for strip in [True, False] if strip_docstrings and parsed is not None else [False]:
        try:
            out = _rewrite(src, _docstrings(*parsed, src) if strip and parsed else [])
        except (_Fallback, tokenize.TokenError, SyntaxError) as exc:
            notes.append(f"python: token pass not possible ({exc}); used the safe pass")
            break
        checks = _verify(src, parsed, out, strip)
        if checks is not None:
            return _output(out, checks, notes)
        notes.append(f"python: check failed (strip_docstrings={strip})")
    safe = _safe_python(src)
    checks = _verify(src, parsed, safe, False)
    if checks is None:
        notes.append("python: safe pass check failed; returned unchanged")
        return _output(code, {"parsed": parsed is not None, "unchanged": True}, notes)
    return _output(safe, {**checks, "safe_pass": True}, notes)


def _verify(
    src: str, parsed: tuple[ast.Module, int] | None, out: str, strip: bool
) -> dict[str, bool] | None:
    """The checks that passed, or None when ``out`` may not mean what ``src`` means."""
    if parsed is None:
        expected = _token_stream(src)
        if expected is not None and expected == _token_stream(out):
            return {"parsed": False, "tokens_equal": True}
        return None
    tree = parsed[0]
    other = _parse_fragment(out)
    if other is None:
        return None
    if strip:
        reparsed = _parse_fragment(src)  # a fresh tree: the caller's one stays intact
        assert reparsed is not None
        tree = reparsed[0]
        _drop_docstrings(tree)
        _drop_docstrings(other[0])
    if not _same_tree(tree, other[0]):
        return None
    return {"parsed": True, "ast_equal": True}


def _parse_fragment(src: str) -> tuple[ast.Module, int] | None:
    """Parse ``src`` as a module, or an indented fragment of a body as if it were one.

    Returns the module and the line shift of its positions (1 for a wrapped fragment).
    """
    try:
        return ast.parse(src), 0
    except (SyntaxError, ValueError):
        pass
    first = next((line for line in src.split("\n") if line.strip()), "")
    if first[:1] not in (" ", "\t"):
        return None
    try:
        wrapped = ast.parse("if 1:\n" + src)
    except (SyntaxError, ValueError):
        return None
    block = wrapped.body[0]
    assert isinstance(block, ast.If)
    return ast.Module(body=block.body, type_ignores=[]), 1


def _docstrings(tree: ast.Module, shift: int, src: str) -> list[_Doc]:
    lines = src.split("\n")
    docs = []
    for node in ast.walk(tree):
        if isinstance(node, _DOC_OWNERS) and node.body and _is_doc(node.body[0]):
            stmt = node.body[0]
            end_row = (stmt.end_lineno or stmt.lineno) - shift
            end_col = stmt.end_col_offset or 0
            row = stmt.lineno - shift
            # ast columns count UTF-8 bytes, tokenize counts characters.
            start = (row, _char_col(lines, row, stmt.col_offset))
            docs.append(
                _Doc(start, (end_row, _char_col(lines, end_row, end_col)), len(node.body) == 1)
            )
    return docs


def _char_col(lines: list[str], row: int, byte_col: int) -> int:
    line = lines[row - 1] if 0 < row <= len(lines) else ""
    return len(line.encode("utf-8")[:byte_col].decode("utf-8", errors="ignore"))


def _is_doc(stmt: ast.stmt) -> bool:
    return (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Constant)
        and isinstance(stmt.value.value, str)
    )


def _drop_docstrings(tree: ast.Module) -> None:
    for node in ast.walk(tree):
        if isinstance(node, _DOC_OWNERS) and node.body and _is_doc(node.body[0]):
            node.body = node.body[1:] or [ast.Pass()]


def _scan(src: str) -> tuple[list[tokenize.TokenInfo], str]:
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


def _token_stream(src: str) -> tuple[list[tuple[int, str]], list[int], str] | None:
    """Significant tokens, the indent depth of each logical line (shifted so the shallowest is
    0) and the untokenizable tail; None if ``src`` does not tokenize. Comments and layout
    newlines are left out."""
    toks: list[tuple[int, str]] = []
    depths: list[int] = []
    depth, at_start = 0, True
    try:
        scanned, tail = _scan(src)
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
        elif t.type not in _LAYOUT and not (t.type == tokenize.ERRORTOKEN and t.string.isspace()):
            if at_start:
                depths.append(depth)
                at_start = False
            toks.append((t.type, t.string))
    base = min(depths, default=0)
    return toks, [d - base for d in depths], tail


def _is_word(ch: str) -> bool:
    return ch.isalnum() or ch == "_" or ch > "\x7f"


# Two operator tokens fuse when the first plus the next character starts a longer operator.
_OP_PREFIXES = frozenset(op[:i] for op in _OPERATORS for i in range(2, len(op) + 1))


def _needs_space(prev_type: int, prev: str, cur_type: int, cur: str) -> bool:
    """Would writing ``cur`` right after ``prev`` make the tokenizer see something else?"""
    a, b = prev[-1], cur[0]
    if _is_word(b):
        return _is_word(a) or prev_type == tokenize.NUMBER  # ``not x``, ``1 if``
    if prev_type == tokenize.OP:
        if cur_type == tokenize.OP:
            return prev + b in _OP_PREFIXES
        return a == "." and cur_type == tokenize.NUMBER
    if prev_type == tokenize.NUMBER:
        return b == "."  # ``1 .real``
    # ``""`` followed by ``"x"`` would read as a triple quote.
    return prev_type == tokenize.STRING and cur_type == tokenize.STRING and b == a


def _same_tree(a: ast.AST, b: ast.AST) -> bool:
    """``ast.dump(a) == ast.dump(b)`` (fields only, no positions), without building strings."""
    stack: list[tuple[object, object]] = [(a, b)]
    while stack:
        x, y = stack.pop()
        if type(x) is not type(y):
            return False
        if isinstance(x, ast.AST):
            stack.extend((getattr(x, f, None), getattr(y, f, None)) for f in x._fields)
        elif isinstance(x, list):
            assert isinstance(y, list)
            if len(x) != len(y):
                return False
            stack.extend(zip(x, y, strict=True))
        elif x != y and not (x != x and y != y):  # NaN constants equal themselves here
            return False
    return True


def _keep_comment(tok: tokenize.TokenInfo) -> bool:
    if tok.start[0] <= 2 and _CODING.match(tok.line):
        return True
    return _keep_comment_line(tok.start[0], tok.string)


class _Line(NamedTuple):
    level: int
    text: str
    kind: str  # "simple", "compound", "comment" (nothing but a kept comment) or "fixed"


class _Writer:
    """Collects logical lines with their indent level and kind, and places the spaces."""

    def __init__(self) -> None:
        self.lines: list[_Line] = []
        self.cur: list[str] = []
        self.prev_type = tokenize.NEWLINE
        self.prev = "\n"
        self.first = ""
        self.has_comment = False

    def put(self, tok_type: int, text: str) -> None:
        if (
            self.cur
            and self.prev != "\n"
            and _needs_space(self.prev_type, self.prev, tok_type, text)
        ):
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
        self.prev_type, self.prev = tokenize.NL, "\n"

    @property
    def has_code(self) -> bool:
        return bool(self.first)

    def end_line(self, level: int, fixed: bool = False) -> None:
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
        self.prev_type, self.prev = tokenize.NEWLINE, "\n"

    def text(self, trailing_newline: bool) -> str:
        lines = _join_lines(self.lines)
        base = min((ln.level for ln in lines if ln.kind != "comment"), default=0)
        body = "\n".join(" " * max(0, ln.level - base) + ln.text for ln in lines)
        return body + "\n" if trailing_newline and body else body


# First tokens of compound statements (soft keywords too: joining never guesses about them).
_COMPOUND = frozenset(
    {"if", "elif", "else", "for", "while", "try", "except", "finally", "with", "def", "class",
     "async", "match", "case", "@"}
)  # fmt: skip


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


def _rewrite(src: str, docs: list[_Doc]) -> str:
    """The token pass proper; raises _Fallback on tokens it does not know how to place."""
    w = _Writer()
    lines = src.split("\n")
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line) + 1)
    depth = 0
    line_level = 0
    doc_starts = {d.start: d for d in docs}
    skip_until: tuple[int, int] | None = None
    after_doc = False
    fstring_depth = 0
    fstring_from = 0
    toks, tail = _scan(src)
    for tok in toks:
        kind = tok.type
        if skip_until is not None:
            if tok.start < skip_until:
                continue
            skip_until = None
            after_doc = True
        if fstring_depth:
            # Python >= 3.12 splits f-strings into parts; copy the whole literal verbatim.
            if kind == _FSTRING_START:
                fstring_depth += 1
            elif kind == _FSTRING_END:
                fstring_depth -= 1
                if not fstring_depth:
                    end = offsets[tok.end[0] - 1] + tok.end[1]
                    w.put(tokenize.STRING, src[fstring_from:end])
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
                if w.has_code:
                    w.break_physical()
                else:
                    w.end_line(depth)
        elif kind == tokenize.COMMENT:
            if _keep_comment(tok):
                w.put(tokenize.COMMENT, (" " if w.cur else "") + tok.string)
        elif kind in (tokenize.ENDMARKER, tokenize.ENCODING):
            continue
        elif kind == tokenize.ERRORTOKEN:
            if tok.string.strip():
                raise _Fallback(f"unexpected token {tok.string!r} at line {tok.start[0]}")
        else:
            if after_doc and tok.string == ";":
                after_doc = False
                continue
            after_doc = False
            if not w.cur:
                line_level = depth
            doc = doc_starts.get(tok.start)
            if doc is not None:
                skip_until = doc.end
                if doc.sole:
                    w.put(tokenize.NAME, "pass")
                continue
            if kind == _FSTRING_START:
                fstring_depth, fstring_from = 1, offsets[tok.start[0] - 1] + tok.start[1]
                continue
            w.put(kind, tok.string)
    if tail:
        if not w.cur:
            line_level = depth
        w.put(tokenize.STRING, tail.rstrip("\n"))
    w.end_line(line_level, fixed=bool(tail))
    return w.text(src.endswith("\n"))


def _safe_python(src: str) -> str:
    """Drop blank and comment-only lines and trailing spaces; rows a string spans stay as-is."""
    try:
        toks, tail = _scan(src)
    except (tokenize.TokenError, SyntaxError):
        return src
    lines = src.split("\n")
    frozen: set[int] = set()  # rows touched by a multi-line string
    if tail:
        frozen.update(range(len(lines) - tail.count("\n"), len(lines) + 1))
    code_rows: set[int] = set()
    opened: list[int] = []
    for tok in toks:
        if tok.type == _FSTRING_START:
            opened.append(tok.start[0])
        elif tok.type == _FSTRING_END and opened:
            frozen.update(range(opened.pop(), tok.end[0] + 1))
        elif tok.type == tokenize.STRING and tok.end[0] > tok.start[0]:
            frozen.update(range(tok.start[0], tok.end[0] + 1))
        if tok.type not in _LAYOUT and tok.type not in (tokenize.DEDENT, tokenize.ENDMARKER):
            code_rows.update(range(tok.start[0], tok.end[0] + 1))
    out = []
    for row, line in enumerate(lines, start=1):
        continued = row > 1 and lines[row - 2].rstrip().endswith("\\")
        if row in frozen or continued or line.rstrip().endswith("\\"):
            out.append(line)
        elif row in code_rows or (line.strip() and _keep_comment_line(row, line.strip())):
            out.append(line.rstrip())
    return "\n".join(out)


def _keep_comment_line(row: int, text: str) -> bool:
    if row <= 2 and (text.startswith("#!") or _CODING.match(text)):
        return True
    return bool(_KEEP_COMMENT.match(text))


# --- tree-sitter languages -------------------------------------------------------------

_TS_ALIASES = {
    **dict.fromkeys(("js", "jsx", "mjs", "cjs", "node"), "javascript"),
    **dict.fromkeys(("sh", "shell", "zsh", "console"), "bash"),
    **dict.fromkeys(("c++", "cc", "cxx", "hpp"), "cpp"),
    "ts": "typescript",
    "golang": "go",
    "rs": "rust",
    "h": "c",
}
_JS_STRINGS = ("string", "template_string", "regex", "jsx_text")
_C_STRINGS = ("string_literal", "char_literal", "system_lib_string", "preproc_arg")


class _Grammar(NamedTuple):
    module: str
    factory: str
    comments: tuple[str, ...]
    protected: tuple[str, ...]
    newline_comments: bool  # a comment spanning lines acts as a newline (ASI / Go semicolons)


_GRAMMARS = {
    "javascript": _Grammar("tree_sitter_javascript", "language", ("comment",), _JS_STRINGS, True),
    "typescript": _Grammar(
        "tree_sitter_typescript",
        "language_typescript",
        ("comment",),
        (*_JS_STRINGS, "template_literal_type"),
        True,
    ),
    "tsx": _Grammar(
        "tree_sitter_typescript",
        "language_tsx",
        ("comment",),
        (*_JS_STRINGS, "template_literal_type"),
        True,
    ),
    "go": _Grammar(
        "tree_sitter_go",
        "language",
        ("comment",),
        ("interpreted_string_literal", "raw_string_literal", "rune_literal"),
        True,
    ),
    "rust": _Grammar(
        "tree_sitter_rust",
        "language",
        ("line_comment", "block_comment"),
        ("string_literal", "raw_string_literal", "char_literal"),
        False,
    ),
    "java": _Grammar(
        "tree_sitter_java",
        "language",
        ("line_comment", "block_comment"),
        ("string_literal", "character_literal"),
        False,
    ),
    "c": _Grammar("tree_sitter_c", "language", ("comment",), _C_STRINGS, False),
    "cpp": _Grammar(
        "tree_sitter_cpp", "language", ("comment",), (*_C_STRINGS, "raw_string_literal"), False
    ),
    "bash": _Grammar(
        "tree_sitter_bash",
        "language",
        ("comment",),
        (
            "string",
            "raw_string",
            "ansi_c_string",
            "translated_string",
            "heredoc_redirect",
            "herestring_redirect",
            "regex",
        ),
        False,
    ),
}
# Comments that change what a compiler or type-checker does.
_KEEP_TS_COMMENT = {
    "javascript": re.compile(rb"^///\s*<|@ts-(?:ignore|expect-error|nocheck|check)\b|@jsx|@flow"),
    "go": re.compile(rb"^(?://go:|// \+build|//export |//line |/\*line |//extern )"),
}
_KEEP_TS_COMMENT["typescript"] = _KEEP_TS_COMMENT["tsx"] = _KEEP_TS_COMMENT["javascript"]
# Runs of blanks not preceded by a backslash (``a\  b`` keeps its escaped space in shell).
_BLANKS = re.compile(rb"(?<!\\)[ \t]{2,}")
_PLACEHOLDER = re.compile(rb"\x00(\d+)\x01")


def grammar_languages() -> list[str]:
    """Languages ``compress_code`` parses with tree-sitter (aliases such as ``js`` also work)."""
    return sorted(_GRAMMARS)


def compress_code(code: str, language: str | None) -> StructuralOutput:
    """Compress source code in ``language`` without changing its token sequence.

    Python goes to :func:`compress_python`. With a tree-sitter grammar, comments are removed
    (except compiler/type-checker directives, shebangs and cgo preambles), blank lines dropped,
    indentation set to one space per level and runs of spaces collapsed; bytes inside strings,
    template literals, heredocs, regexes and preprocessor bodies are never touched. The output
    must re-parse without errors and keep the original's non-comment leaves, otherwise a
    string-aware whitespace pass is used. Languages without a grammar get that pass directly.
    """
    lang = (language or "").lower()
    lang = _TS_ALIASES.get(lang, lang)
    if lang in ("python", "py", "python3"):
        return compress_python(code)
    grammar = _GRAMMARS.get(lang)
    notes: list[str] = []
    if grammar is not None:
        try:
            out = _ts_compress(code, lang, grammar)
        except _Fallback as exc:
            notes.append(f"{lang}: {exc}; used the whitespace pass")
        else:
            return _output(out, {"reparse_ok": True, "tokens_equal": True}, notes)
    from compression_layer.compress.structural import compress_code_layout

    result = compress_code_layout(code, lang or None)
    result.notes[:0] = notes
    return result


def _ts_parser(lang: str, grammar: _Grammar) -> Any:
    import importlib

    import tree_sitter

    cached = _PARSERS.get(lang)
    if cached is None:
        language = tree_sitter.Language(
            getattr(importlib.import_module(grammar.module), grammar.factory)()
        )
        kinds = [
            k for k in (*grammar.comments, *grammar.protected) if language.id_for_node_kind(k, True)
        ]
        query = tree_sitter.Query(language, " ".join(f"({k}) @n" for k in kinds))
        cached = _PARSERS[lang] = (tree_sitter.Parser(language), query)
    return cached


_PARSERS: dict[str, Any] = {}


def _ts_compress(code: str, lang: str, grammar: _Grammar) -> str:
    import tree_sitter

    src = code.encode("utf-8")
    if b"\x00" in src or b"\x01" in src:
        raise _Fallback("input holds NUL/SOH bytes")
    parser, query = _ts_parser(lang, grammar)
    tree = parser.parse(src)
    if tree.root_node.has_error:
        raise _Fallback("the input does not parse cleanly")
    nodes = tree_sitter.QueryCursor(query).captures(tree.root_node).get("n", [])
    nodes.sort(key=lambda n: (n.start_byte, -n.end_byte))
    keep = _KEEP_TS_COMMENT.get(lang)
    spans: list[bytes] = []
    skel: list[bytes] = []
    pos = 0
    for node in nodes:
        start, end = node.start_byte, node.end_byte
        if start < pos:
            continue  # nested in a span already taken
        text = src[start:end]
        skel.append(src[pos:start])
        pos = end
        if node.type in grammar.comments and not _keep_ts_comment(node, text, lang, keep):
            # Some grammars end a line comment after its newline; the newline must stay.
            breaks = text.endswith(b"\n") or (grammar.newline_comments and b"\n" in text)
            skel.append(b"\n" if breaks else b" ")
            continue
        skel.append(b"\x00%d\x01" % len(spans))
        spans.append(text)
    skel.append(src[pos:])
    body = _layout_lines(b"".join(skel))
    out = _PLACEHOLDER.sub(lambda m: spans[int(m.group(1))], body)
    if src.endswith(b"\n") and out and not out.endswith(b"\n"):
        out += b"\n"
    new = parser.parse(out)
    if new.root_node.has_error:
        raise _Fallback("the output did not re-parse cleanly")
    if _leaves(tree, src, grammar.comments) != _leaves(new, out, grammar.comments):
        raise _Fallback("the output's tokens differ")
    return out.decode("utf-8")


def _keep_ts_comment(node: Any, text: bytes, lang: str, keep: re.Pattern[bytes] | None) -> bool:
    if node.start_byte == 0 and text.startswith(b"#!"):
        return True
    if keep is not None and keep.search(text):
        return True
    if lang == "go":  # a cgo preamble: the comment right before ``import "C"`` is C source
        sibling = node.next_named_sibling
        return bool(
            sibling is not None and sibling.type == "import_declaration" and b'"C"' in sibling.text
        )
    return False


def _layout_lines(skel: bytes) -> bytes:
    """Blank lines out, one space per indent level, runs of blanks collapsed."""
    lines = skel.split(b"\n")
    unit = _indent_unit(lines)
    out: list[bytes] = []
    continued = False
    for line in lines:
        stripped = line.rstrip(b" \t")
        if stripped.endswith(b"\\") and len(stripped) < len(line):
            stripped = line[: len(stripped) + 1]  # ``\ `` at the end is an escaped blank
        body = stripped.lstrip(b" \t")
        lead = stripped[: len(stripped) - len(body)]
        if continued:
            # After a backslash-newline a leading blank may be what separates two words.
            out.append((b" " if lead else b"") + _BLANKS.sub(b" ", body))
        elif body:
            level = lead.count(b"\t") + lead.count(b" ") // unit
            out.append(b" " * level + _BLANKS.sub(b" ", body))
        continued = line.endswith(b"\\")
    return b"\n".join(out)


def _indent_unit(lines: list[bytes]) -> int:
    deltas: dict[int, int] = {}
    prev = 0
    for line in lines:
        body = line.lstrip(b" ")
        if not body.strip() or body[:1] == b"\t":
            continue
        width = len(line) - len(body)
        if width > prev:
            deltas[width - prev] = deltas.get(width - prev, 0) + 1
        prev = width
    return max(deltas, key=lambda d: (deltas[d], -d)) if deltas else 4


def _leaves(tree: Any, src: bytes, comments: tuple[str, ...]) -> list[tuple[str, bytes]]:
    """(type, text) of every leaf outside comments, in order."""
    out: list[tuple[str, bytes]] = []
    cursor = tree.walk()
    while True:
        node = cursor.node
        if node.type not in comments:
            if node.child_count == 0:
                out.append((node.type, src[node.start_byte : node.end_byte]))
            elif cursor.goto_first_child():
                continue
        while not cursor.goto_next_sibling():
            if not cursor.goto_parent():
                return out
