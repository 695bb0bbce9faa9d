"""Where a Python module's skeleton may cut: function and class bodies, long values, blocks.

Each cut replaces whole lines of the original, so its marker's ``lines=`` selector (or the
``symbol=`` of the definition that encloses them) gives back exactly what it stands for. A body
keeps its definition's decorators and signature and the first line of its docstring; the lines
after the signature become ``...  # [body omitted: retrieve ...]``, which still parses.

Phases (see :func:`compression_layer.compress.structural.cuts.choose`): 1 function bodies
without cuts of their own inside; 2 docstrings past their first line, runs of comment lines,
long module or class values and the bodies of blocks (``if TYPE_CHECKING:``, ``try:``) without
cuts inside; 3 outline: class bodies and bodies that hold other cuts (factories, blocks around
functions).
"""

from __future__ import annotations

import ast
from collections import Counter

from compression_layer.compress.structural.cuts import Cut, nest

_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_BLOCKS = (ast.If, ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith, ast.Try, ast.TryStar)
_Found = list[tuple[Cut, str | None]]  # cuts with the symbol that encloses each, if any
_VALUE_MIN_LINES = 4  # a value spanning fewer lines is not worth a marker


class _Lines:
    """The text's lines as ``ast`` numbers them (split at ``\\n``), with their offsets."""

    def __init__(self, text: str) -> None:
        self.rows = text.split("\n")
        self.starts = [0]
        for row in self.rows[:-1]:
            self.starts.append(self.starts[-1] + len(row) + 1)

    def span(self, first: int, last: int) -> tuple[int, int]:
        """Offsets of lines ``first..last`` (1-based, inclusive), without the final newline."""
        return self.starts[first - 1], self.starts[last - 1] + len(self.rows[last - 1])

    def indent(self, line: int) -> str:
        row = self.rows[line - 1]
        return row[: len(row) - len(row.lstrip(" \t"))]


def python_cuts(text: str) -> list[Cut] | None:
    """The cuts a skeleton of ``text`` may make, or None when it does not parse as Python."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError):
        return None
    lines = _Lines(text)
    found: _Found = []
    _walk(tree.body, "", lines, found)
    found.extend((cut, None) for cut in _comment_cuts(tree, lines))
    # A name defined twice (an overload, a property's setter, a conditional def) is addressed
    # by lines: ``symbol=`` would give back every definition of it.
    counts = Counter(_all_names(tree, ""))
    cuts: list[Cut] = []
    for cut, symbol in found:
        if symbol and counts[symbol] == 1:
            cut.selector = {"symbol": symbol}
        cuts.append(cut)
    nest(cuts)
    return cuts


def _all_names(node: ast.AST, prefix: str) -> list[str]:
    """Qualified names of every definition, nested ones as ``Outer.inner`` (as ``retrieve``)."""
    names: list[str] = []
    for child in ast.iter_child_nodes(node):
        if isinstance(child, _DEFS):
            names.append(f"{prefix}{child.name}")
            names.extend(_all_names(child, f"{prefix}{child.name}."))
        else:
            names.extend(_all_names(child, prefix))
    return names


def _walk(stmts: list[ast.stmt], prefix: str, lines: _Lines, found: _Found) -> bool:
    """Collect cuts under ``stmts``; True when a definition was found there."""
    any_def = False
    for node in stmts:
        if isinstance(node, _DEFS):
            any_def = True
            name = f"{prefix}{node.name}"
            before = len(found)
            if isinstance(node, ast.ClassDef):
                _walk(node.body, f"{name}.", lines, found)
            else:
                for child in node.body:  # nested definitions stay visible until phase 3
                    _nested_defs(child, name, lines, found)
            outline = isinstance(node, ast.ClassDef) or len(found) > before
            cut = _body_cut(node, node.body, lines, name, phase=3 if outline else 1)
            if cut is not None:
                found.append((cut, name))
        elif isinstance(node, _BLOCKS):
            before = len(found)
            any_def |= _walk(_block_statements(node), prefix, lines, found)
            phase = 3 if len(found) > before else 2
            cut = _body_cut(node, node.body, lines, "", phase=phase, what="block")
            if cut is not None:
                found.append((cut, None))
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            cut = _value_cut(node, lines, prefix)
            if cut is not None:
                found.append((cut, None))
        elif _is_string(node):
            cut = _docstring_cut(node, lines)
            if cut is not None:
                found.append((cut, None))
    return any_def


def _is_string(node: ast.stmt) -> bool:
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    )


def _docstring_cut(node: ast.stmt, lines: _Lines) -> Cut | None:
    """A string statement spanning lines (a docstring) as its first line plus a marker."""
    first, last = node.lineno, node.end_lineno or node.lineno
    if last == first or lines.rows[first - 1][: node.col_offset].strip():
        return None
    tail = lines.rows[last - 1].encode("utf-8")[node.end_col_offset or 0 :].strip()
    if tail and not tail.startswith(b"#"):
        return None  # another statement follows on the last line
    assert isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
    summary = _summary_literal(str(node.value.value))
    indent = lines.indent(first)
    start, end = lines.span(first, last)
    return Cut(
        start,
        end,
        "docstring",
        {"lines": _range(first, last)},
        before=f"{indent}{summary}  # " if summary else f"{indent}# ",
        phase=2,
    )


def _comment_cuts(tree: ast.Module, lines: _Lines) -> list[Cut]:
    """Runs of two or more comment-only lines (outside strings), each as one comment marker."""
    in_string: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant | ast.JoinedStr):
            end = node.end_lineno or node.lineno
            if end > node.lineno:
                in_string.update(range(node.lineno + 1, end + 1))
    cuts: list[Cut] = []
    run: list[int] = []
    for number, row in enumerate([*lines.rows, ""], start=1):
        stripped = row.lstrip(" \t")
        comment = stripped.startswith("#") and number not in in_string
        if comment and (not run or lines.indent(number) == lines.indent(run[0])):
            run.append(number)
            continue
        if len(run) >= 2 and not (run[0] == 1 and lines.rows[0].startswith("#!")):
            start, end = lines.span(run[0], run[-1])
            cuts.append(
                Cut(
                    start,
                    end,
                    "comment",
                    {"lines": _range(run[0], run[-1])},
                    before=f"{lines.indent(run[0])}# ",
                    phase=2,
                )
            )
        run = [number] if comment else []
    return cuts


def _nested_defs(node: ast.stmt, prefix: str, lines: _Lines, found: _Found) -> None:
    """Definitions nested in a function body (at any statement depth) become cuts of their own."""
    if isinstance(node, _DEFS):
        _walk([node], f"{prefix}.", lines, found)
        return
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.stmt):
            _nested_defs(child, prefix, lines, found)


def _block_statements(node: ast.stmt) -> list[ast.stmt]:
    out: list[ast.stmt] = []
    for name in ("body", "orelse", "finalbody"):
        out.extend(getattr(node, name, []))
    for handler in getattr(node, "handlers", []):
        out.extend(handler.body)
    return out


def _body_cut(
    node: ast.stmt,
    body: list[ast.stmt],
    lines: _Lines,
    name: str,
    *,
    phase: int,
    what: str = "body",
) -> Cut | None:
    """The lines after ``node``'s header through the end of ``body``, as one cut."""
    first = body[0].lineno
    last = body[-1].end_lineno or first
    header = _header_end(lines, node.lineno, first)
    if header is None:
        return None  # the body shares its header's line
    indent = lines.indent(first)
    doc = ""
    if what == "body" and isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        summary = _doc_summary(node)
        if summary:
            doc = f"{indent}{summary}\n"
    start, end = lines.span(header + 1, last)
    return Cut(
        start,
        end,
        what,
        {"lines": _range(header + 1, last)},
        before=f"{doc}{indent}...  # ",
        phase=phase,
        name=name,
    )


def _header_end(lines: _Lines, header: int, first: int) -> int | None:
    """The last line of a compound statement's header: the last code line before its body."""
    line = first - 1
    while line > header:
        row = lines.rows[line - 1].strip()
        if row and not row.startswith("#"):
            break
        line -= 1
    return line if line >= header and line < first else None


def _value_cut(node: ast.Assign | ast.AnnAssign, lines: _Lines, prefix: str) -> Cut | None:
    """``NAME = <long literal>`` as ``NAME = ...  # [value omitted: ...]``."""
    first, last = node.lineno, node.end_lineno or node.lineno
    if last - first + 1 < _VALUE_MIN_LINES or node.value is None:
        return None
    row = lines.rows[first - 1]
    if row[: node.col_offset].strip():
        return None  # the statement follows another on its line
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    names = [ast.unparse(t) for t in targets]
    head = " = ".join(names)
    if isinstance(node, ast.AnnAssign):
        head = f"{head}: {ast.unparse(node.annotation)}"
    if "\n" in head or len(head) > 200:
        return None
    start, end = lines.span(first, last)
    return Cut(
        start,
        end,
        "value",
        {"lines": _range(first, last)},
        before=f"{lines.indent(first)}{head} = ...  # ",
        phase=2,
        name=f"{prefix}{names[0]}",
    )


def _doc_summary(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> str:
    """The first line of the docstring as a one-line string literal, or ""."""
    return _summary_literal(ast.get_docstring(node, clean=True) or "")


def _summary_literal(doc: str) -> str:
    """The first non-blank line of ``doc`` as a one-line string literal, or ""."""
    first = next((row.strip() for row in doc.splitlines() if row.strip()), "")
    if not first:
        return ""
    if "\\" in first or '"' in first or not first.isprintable():
        return repr(first)
    return f'"""{first}"""'


def _range(first: int, last: int) -> str:
    return str(first) if first == last else f"{first}-{last}"
