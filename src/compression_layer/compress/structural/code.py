"""Meaning-preserving passes for code in languages other than Python, through tree-sitter.

With a grammar (javascript, typescript, tsx, go, rust, java, c, cpp, bash): comments are removed,
blank lines dropped, indentation set to one space per level and runs of blanks collapsed. Kept:
shebangs, comments that steer a compiler or type-checker (``//go:build``, ``//export``, the cgo
preamble before ``import "C"``, TypeScript ``/// <reference>`` and ``@ts-`` directives, ``@jsx``
and ``@flow`` pragmas) and every byte inside strings, template literals, heredocs, regexes, and
C preprocessor bodies. Rust doc comments are comments here and go. A comment spanning lines
becomes a newline where newlines carry meaning (JavaScript's ASI, Go's semicolons).

Check: the output re-parses without ERROR/MISSING nodes and its non-comment leaves (type and
text) equal the input's. Input that does not parse cleanly, a failed check, and languages without
a grammar go through the string-aware whitespace pass of
:func:`compression_layer.compress.structural.compress_code_layout`.

Python is handled by :mod:`compression_layer.compress.structural.python.compact`; ``compress_code``
routes to it.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from compression_layer.compress.structural.layout import compress_code_layout
from compression_layer.compress.structural.output import StructuralOutput
from compression_layer.compress.structural.python.compact import compress_python

__all__ = ["compress_code", "compress_python", "grammar_languages"]


class _Fallback(Exception):
    """The tree-sitter pass cannot handle this input; the caller uses the whitespace pass."""


_TS_ALIASES = {
    **dict.fromkeys(("js", "jsx", "mjs", "cjs", "node"), "javascript"),
    **dict.fromkeys(("sh", "shell", "zsh"), "bash"),
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
            if _looks_like_python(code):  # a mislabelled Python file: its own pass is exact
                result = compress_python(code)
                result.notes.insert(0, f"{lang}: {exc}; the text parses as Python, used that pass")
                return result
            notes.append(f"{lang}: {exc}; used the whitespace pass")
        else:
            return StructuralOutput(text=out, checks={"reparse_ok": True, "tokens_equal": True})
    result = compress_code_layout(code, lang or None)
    result.notes[:0] = notes
    return result


def _looks_like_python(code: str) -> bool:
    import ast

    try:
        ast.parse(code)
    except (SyntaxError, ValueError):
        return False
    return "\n" in code.strip()  # one-liners parse as Python too often to mean anything


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
    climbed = False  # just came back up from a node's children
    while True:
        if not climbed:
            node = cursor.node
            if node.type in comments:
                pass
            elif cursor.goto_first_child():
                continue
            else:
                out.append((node.type, src[node.start_byte : node.end_byte]))
        if cursor.goto_next_sibling():
            climbed = False
        elif cursor.goto_parent():
            climbed = True
        else:
            return out
