"""Is this a Python source file? How a file opens (shebang, comments, docstring) and a parse check.

Python-looking text is confirmed with ``ast.parse`` of the whole text (or of its first 20,000
characters cut at a top-level statement), which keeps a module whose docstring holds markdown
fences or reST ``~~~`` underlines from being read as markdown, and keeps words that happen to
parse (``Paris``, ``global warming``, ``key = true``) from being read as code.
"""

from __future__ import annotations

import ast
import re
import textwrap
from dataclasses import dataclass

_SHEBANG = re.compile(r"#![ \t]*(\S+)(?:[ \t]+(?:-\S+[ \t]+)*([\w.+-]+))?")
_INTERPRETERS = {
    **dict.fromkeys(("sh", "bash", "zsh", "ksh", "dash", "ash", "fish"), "shell"),
    **dict.fromkeys(("node", "nodejs", "bun"), "javascript"),
    **dict.fromkeys(("deno", "ts-node", "tsx"), "typescript"),
}


_COOKIE = re.compile(r"[ \t\f]*#.*?coding[:=][ \t]*[-\w.]+")


# A comment line of a preamble: "# text" (not "#include", "#[derive", "#define"), "//", "--".
_COMMENT_LINE = re.compile(r"[ \t]*(?:#(?:[ \t#!*=~-]|$)|//|-- |--$)")
_DOCSTRING_OPEN = re.compile(r"[rRuU]?(\"\"\"|''')")
_PARSE_LIMIT = 20_000  # characters of Python-looking text ast.parse confirms


# A line at column 0 that starts a statement (not one that continues the one before it); a
# def or class is preferred: prose inside a string rarely starts a line with one.
_PY_TOP_LEVEL = re.compile(r"\n(?=[A-Za-z_@])(?!(?:elif|else|except|finally)\b)")
_PY_DEF_LEVEL = re.compile(r"\n(?=@|(?:async def|def|class) )")


# Statements only code forms: compound ones need a colon and a body; simple ones ("return
# home", "global warming") parse from two words, so one of them alone is not enough.
_PY_COMPOUND = (
    ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.If, ast.For, ast.AsyncFor, ast.While,
    ast.With, ast.AsyncWith, ast.Try, ast.Match,
)  # fmt: skip


_PY_SIMPLE = (
    ast.Import, ast.Raise, ast.Return, ast.Assert, ast.Delete, ast.Global,
)  # fmt: skip


_PY_STATEMENT_START = re.compile(r"[A-Za-z_][\w.]*[ \t]*(?:[(\[]|(?::[^=\n]+)?=[^=])")
_PY_STARTS = ("def ", "class ", "import ", "from ", "@", "async ", "with ", "for ", "if ", "try:")
_PY_LINE_STARTS = ("\ndef ", " def ", "\nclass ", "\nimport ", "\nfrom ", "\n@", "    @")


def parses_as_python(sample: str) -> bool:
    """``ast.parse`` success, tried only when a line opens Python-like (``Paris`` parses too).

    Parsing costs more than all the counting, so cheap substring checks gate it.
    """
    if not python_like(sample):
        return False
    try:
        ast.parse(textwrap.dedent(sample))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


def python_like(sample: str) -> bool:
    head = sample.lstrip()
    return head.startswith(_PY_STARTS) or any(k in sample for k in _PY_LINE_STARTS)


@dataclass(frozen=True, slots=True)
class SourceHead:
    """How a source file opens: where its code starts and what the opening says about it."""

    start: int  # first line after the shebang, comment lines, block comments and docstring
    shebang: str | None  # the language of the interpreter a shebang names
    python: bool  # an encoding cookie or a module docstring was seen
    comments: int  # comment lines and block comments seen


def source_head(text: str) -> SourceHead:
    pos, shebang, python, docstring, comments = 0, None, False, False, 0
    first = _SHEBANG.match(text)
    if first is not None:
        shebang = _interpreter(first.group(1), first.group(2))
        pos = _line_end(text, 0)
    limit = min(len(text), 50_000)  # a preamble longer than this is not one
    while pos < limit:
        end = _line_end(text, pos)
        line = text[pos:end]
        if not line.strip():
            pos = end
        elif _COMMENT_LINE.match(line):
            python = python or _COOKIE.match(line) is not None
            pos, comments = end, comments + 1
        elif line.lstrip().startswith("/*"):
            close = text.find("*/", pos + line.index("/*") + 2)
            if close < 0:
                break
            pos, comments = close + 2, comments + 1
        elif not docstring and (quote := _DOCSTRING_OPEN.match(line)) is not None:
            close = text.find(quote.group(1), pos + quote.end())
            if close < 0:
                break
            pos, python, docstring = close + 3, True, True
        else:
            break
    return SourceHead(pos, shebang, python, comments)


def _line_end(text: str, pos: int) -> int:
    end = text.find("\n", pos)
    return len(text) if end < 0 else end + 1


def _interpreter(program: str, argument: str | None) -> str | None:
    name = program.rsplit("/", 1)[-1]
    if name == "env":
        name = argument or ""
    name = name.lower().rstrip("0123456789.")
    if name.startswith(("python", "pypy")):
        return "python"
    if name in ("ruby", "perl", "php", "lua", "awk", "tcl", "rscript"):
        return "r" if name == "rscript" else name
    return _INTERPRETERS.get(name)


def python_module(text: str, head: SourceHead, body: str) -> str | None:
    """``"python"`` when ``text`` parses as a Python module with real code in it, ``"data"`` when
    it parses as assignments of plain values only, ``"failed"`` when it does not parse; None
    when not tried or when it parses as something else (a bare name, TOML's ``[table]``).

    Long text is cut before its last top-level statement within ``_PARSE_LIMIT`` characters of
    the end of its preamble (a long docstring is one token: cheap to parse); when that cut falls
    inside a string, once more before the statement the parser stopped in.
    """
    if not (head.python or python_like(body) or _PY_STATEMENT_START.match(body.lstrip())):
        return None
    src = text.removeprefix("\ufeff")
    cut = len(src) > head.start + _PARSE_LIMIT
    if cut:
        end = _statement_before(src, head.start, head.start + _PARSE_LIMIT)
        if end is None:
            return None
        src = src[:end]
    if src.lstrip("\n")[:1] in (" ", "\t"):
        src = textwrap.dedent(src)
    tree = _parse(src)
    if isinstance(tree, SyntaxError) and cut and tree.lineno:
        stop = 0
        for _ in range(tree.lineno - 1):
            stop = src.find("\n", stop) + 1
        end = _statement_before(src, head.start, stop)
        tree = _parse(src[:end]) if end else tree
    if not isinstance(tree, ast.Module):
        return "failed"
    return _module_kind(tree.body, head.python)


def _statement_before(src: str, start: int, limit: int) -> int | None:
    for pattern in (_PY_DEF_LEVEL, _PY_TOP_LEVEL):
        found = None
        for found in pattern.finditer(src, start, limit):  # noqa: B007 (the last one counts)
            pass
        if found is not None:
            return found.start()
    return None


def _parse(src: str) -> ast.Module | SyntaxError | None:
    try:
        return ast.parse(src)
    except SyntaxError as exc:
        return exc
    except (ValueError, RecursionError, MemoryError):
        return None


def _module_kind(body: list[ast.stmt], opened_as_python: bool) -> str | None:
    """Code, not words that happen to parse (``Paris``, ``global warming``, ``key = true``)."""
    if body and _is_str_expr(body[0]):
        body = body[1:]
    for stmt in body:
        # A bare name, list or number is never a statement of a real module: prose or TOML.
        if isinstance(stmt, ast.Expr) and not (
            _is_str_expr(stmt) or isinstance(stmt.value, ast.Call | ast.Await)
        ):
            return None
    if opened_as_python or any(_python_statement(s) for s in body):
        return "python"
    if len(body) >= 2 and any(isinstance(s, _PY_SIMPLE) for s in body):
        return "python"
    if body and all(isinstance(s, ast.Assign) for s in body):
        return "data"
    return None


def _python_statement(stmt: ast.stmt) -> bool:
    """A statement prose or a config file does not form: a block, an import, a method call
    (``Paris (France)`` is a call too), ``raise E(...)``, an assignment only Python writes."""
    if isinstance(stmt, _PY_COMPOUND) or _python_import(stmt) or _python_assignment(stmt):
        return True
    if isinstance(stmt, ast.Raise):
        return isinstance(stmt.exc, ast.Call)
    return isinstance(stmt, ast.Expr) and _method_call(stmt.value)


def _python_import(stmt: ast.stmt) -> bool:
    """``from x import y``, ``import a.b``, ``import a as b``: not two words of prose."""
    if isinstance(stmt, ast.ImportFrom):
        return True
    return isinstance(stmt, ast.Import) and any(a.asname or "." in a.name for a in stmt.names)


def _method_call(node: ast.expr) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute | ast.Call)


def _is_str_expr(stmt: ast.stmt) -> bool:
    return (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Constant)
        and isinstance(stmt.value.value, str)
    )


def _python_assignment(stmt: ast.stmt) -> bool:
    """An assignment only Python writes: to a dunder, or of a call, attribute, None/True/False."""
    if isinstance(stmt, ast.AugAssign) or (isinstance(stmt, ast.AnnAssign) and stmt.value):
        return True
    if not isinstance(stmt, ast.Assign):
        return False
    if any(isinstance(t, ast.Name) and t.id.startswith("__") for t in stmt.targets):
        return True
    return not _data_like(stmt.value)


def _data_like(node: ast.expr) -> bool:
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.Name):
        return node.id not in ("None", "True", "False")
    if isinstance(node, ast.UnaryOp):
        return isinstance(node.operand, ast.Constant)
    if isinstance(node, ast.List):
        return all(_data_like(e) for e in node.elts)
    if isinstance(node, ast.Dict):  # {mode: 'production'}: a JS object literal parses too
        return not node.keys or any(isinstance(k, ast.Name) for k in node.keys)
    return False
