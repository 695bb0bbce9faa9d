"""Layout-only passes: spacing in prose; code without a grammar (strings, comments kept)."""

from __future__ import annotations

import re

from compression_layer.compress.structural.output import StructuralOutput

_SPACE_RUN = re.compile(r"(?<=\S)[ \t]{2,}(?=\S)")
_TRAILING = re.compile(r"[ \t]+$", re.MULTILINE)
_BLANK_RUN = re.compile(r"\n(?:[ \t]*\n){2,}")
_SPACE_RUN_ANY = re.compile(r"[ \t]{2,}")
_SLOT = re.compile(r"\x00(\d+)\x01")
# Strings first (triple quotes before single), then comments; unterminated ones run to the end,
# which only ever protects more. SQL doubles quotes, C-like languages escape with a backslash:
# both are accepted so either dialect lexes to the same spans.
_STRINGS = (
    r'"""[\s\S]*?(?:"""|$)|\'\'\'[\s\S]*?(?:\'\'\'|$)'
    r'|"(?:[^"\\]|\\[\s\S])*"?|\'(?:[^\'\\]|\\[\s\S])*\'?|`(?:[^`\\]|\\[\s\S])*`?'
)
_COMMENTS = {
    "sql": r"--[^\n]*|/\*[\s\S]*?(?:\*/|$)",
    "hash": r"#[^\n]*",
    "default": r"//[^\n]*|/\*[\s\S]*?(?:\*/|$)|#[^\n]*",
}
_HASH_COMMENT_LANGS = frozenset(
    {"yaml", "yml", "toml", "ruby", "rb", "perl", "pl", "r", "make", "makefile", "dockerfile",
     "ini", "conf", "nix", "elixir", "ex", "powershell", "ps1", "tcl", "cmake"}
)  # fmt: skip
_LEXERS = {
    name: re.compile(f"(?P<s>{_STRINGS})|(?P<c>{pattern})") for name, pattern in _COMMENTS.items()
}
# Executable SQL comments: MySQL version-conditional code and optimizer hints.
_SQL_KEEP_COMMENT = re.compile(r"/\*[!+]")


def compress_prose_layout(text: str) -> StructuralOutput:
    """Layout only: collapse runs of spaces inside lines, trailing spaces and blank-line runs.

    Leading indentation is kept (markdown reads meaning into it), words are never touched.
    """
    out = _SPACE_RUN.sub(" ", text)
    out = _TRAILING.sub("", out)
    out = _BLANK_RUN.sub("\n\n", out)
    same = out.split() == text.split()
    return StructuralOutput(text=out if same else text, checks={"words_equal": same})


def compress_code_layout(code: str, language: str | None = None) -> StructuralOutput:
    """The pass for code without a grammar: whitespace only, strings and comments untouched.

    Trailing spaces go and runs of blank lines become one. SQL (whitespace never matters
    outside literals) also loses its comments (except ``/*!`` and ``/*+``), blank lines,
    indentation and runs of spaces. Checked: the strings and the words between them are equal.
    """
    lang = (language or "").lower()
    sql = lang in ("sql", "psql", "mysql", "postgresql", "sqlite", "plsql", "tsql")
    lexer = _LEXERS["sql" if sql else "hash" if lang in _HASH_COMMENT_LANGS else "default"]
    spans: list[str] = []
    skel: list[str] = []
    pos = 0
    for m in lexer.finditer(code):
        skel.append(code[pos : m.start()])
        pos = m.end()
        if sql and m.group("c") is not None and not _SQL_KEEP_COMMENT.match(m.group()):
            skel.append(" ")
            continue
        skel.append(f"\x00{len(spans)}\x01")
        spans.append(m.group())
    skel.append(code[pos:])
    body = "".join(skel)
    if "\x00" in code or "\x01" in code:
        return StructuralOutput(text=code, checks={"unchanged": True}, notes=["NUL in input"])
    if sql:
        lines = (_SPACE_RUN_ANY.sub(" ", line).strip() for line in body.split("\n"))
        body = "\n".join(line for line in lines if line)
    else:
        body = _BLANK_RUN.sub("\n\n", _TRAILING.sub("", body))
    out = _SLOT.sub(lambda m: spans[int(m.group(1))], body)
    if code.endswith("\n") and not out.endswith("\n"):
        out += "\n"
    same = _lex_words(out, lexer, sql) == _lex_words(code, lexer, sql)
    if not same:
        return StructuralOutput(
            text=code, checks={"unchanged": True}, notes=["code layout: check failed; unchanged"]
        )
    return StructuralOutput(text=out, checks={"tokens_equal": True})


def _lex_words(text: str, lexer: re.Pattern[str], drop_comments: bool) -> list[str]:
    words: list[str] = []
    pos = 0
    for m in lexer.finditer(text):
        words.extend(text[pos : m.start()].split())
        pos = m.end()
        if not (
            drop_comments and m.group("c") is not None and not _SQL_KEEP_COMMENT.match(m.group())
        ):
            words.append(m.group())
    words.extend(text[pos:].split())
    return words
