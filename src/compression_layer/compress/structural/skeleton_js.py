"""Where a JavaScript or TypeScript skeleton may cut, found with tree-sitter.

tree-sitter parses strings, template literals, comments, regex literals and JSX for us, so a
brace inside any of them is never taken for a body. A body ``{ ... }`` whose opening brace ends
its line and whose closing brace starts its line is cut between the braces: the lines inside
(its ``lines=`` selector, exactly) become ``{ /* [body omitted: retrieve ...] */ }``, which still
parses. Bodies that share a line with other code stay as they are.

Phases: 1 functions, methods and callbacks without nested functions; 2 long object and array
literals assigned to a name; 3 bodies holding functions that have a name (classes, namespaces,
factories, objects of methods); 4 anonymous wrappers (an IIFE or UMD factory), last.
"""

from __future__ import annotations

import importlib
from typing import Any

from compression_layer.compress.structural.cuts import Cut, nest

_GRAMMARS = {
    **dict.fromkeys(
        ("javascript", "js", "jsx", "mjs", "cjs", "node"), ("tree_sitter_javascript", "language")
    ),
    **dict.fromkeys(
        ("typescript", "ts", "mts", "cts"), ("tree_sitter_typescript", "language_typescript")
    ),
    "tsx": ("tree_sitter_typescript", "language_tsx"),
}
_FUNCTIONS = frozenset(
    {
        "function_declaration",
        "generator_function_declaration",
        "function_expression",
        "function",
        "generator_function",
        "arrow_function",
        "method_definition",
    }
)
_CONTAINERS = frozenset(
    {"class_declaration", "class", "abstract_class_declaration", "internal_module", "module"}
)
_LITERALS = frozenset({"object", "array"})
_NAMING = frozenset(
    {"variable_declarator", "pair", "assignment_expression", "field_definition",
     "public_field_definition"}
)  # fmt: skip
_PARSERS: dict[str, Any] = {}


def script_languages() -> frozenset[str]:
    """Language labels :func:`script_cuts` accepts."""
    return frozenset(_GRAMMARS)


def parses_cleanly(text: str, language: str) -> bool:
    """Whether tree-sitter's grammar for ``language`` reads ``text`` without an error node."""
    return not _parser(language).parse(text.encode("utf-8")).root_node.has_error


def script_cuts(text: str, language: str) -> list[Cut] | None:
    """The cuts a skeleton of ``text`` may make, or None when it does not parse cleanly."""
    src = text.encode("utf-8")
    tree = _parser(language).parse(src)
    if tree.root_node.has_error:
        return None
    rows = text.split("\n")
    starts = [0]
    for row in rows[:-1]:
        starts.append(starts[-1] + len(row) + 1)
    finder = _Finder(rows, starts)
    finder.visit(tree.root_node, "")
    finder.comment_runs()
    nest(finder.cuts)
    return finder.cuts


def _parser(language: str) -> Any:
    import tree_sitter

    module, factory = _GRAMMARS[language.lower()]
    parser = _PARSERS.get(module + factory)
    if parser is None:
        grammar = tree_sitter.Language(getattr(importlib.import_module(module), factory)())
        parser = _PARSERS[module + factory] = tree_sitter.Parser(grammar)
    return parser


class _Finder:
    def __init__(self, rows: list[str], starts: list[int]) -> None:
        self.rows = rows
        self.starts = starts
        self.cuts: list[Cut] = []
        self.comments: list[tuple[int, int]] = []  # (first row, last row) of full-line comments

    def visit(self, node: Any, scope: str) -> None:
        """Collect the cuts under ``node`` (a body holding cuts of its own comes later)."""
        kind = node.type if node.is_named else ""
        if kind == "comment":
            self._comment(node)
            return
        before = len(self.cuts)
        if kind in _FUNCTIONS or kind in _CONTAINERS:
            name = _name(node, scope)
            body = node.child_by_field_name("body")
            for child in node.children:
                self.visit(child, f"{name}." if name else scope)
            if body is not None and body.type in ("statement_block", "class_body"):
                outline = kind in _CONTAINERS or len(self.cuts) > before
                phase = (3 if name else 4) if outline else 1
                self._add(body, "body", phase, name or scope.rstrip("."))
            return
        if kind in _LITERALS and node.parent is not None and node.parent.type in _NAMING:
            name = _name(node, scope)
            for child in node.children:
                self.visit(child, f"{name}." if name else scope)
            self._add(node, "value", 3 if len(self.cuts) > before else 2, name)
            return
        for child in node.children:
            self.visit(child, scope)

    def _comment(self, node: Any) -> None:
        (first, col), (last, end_col) = node.start_point, node.end_point
        if self.rows[first][: _char_col(self.rows[first], col)].strip():
            return
        if self.rows[last][_char_col(self.rows[last], end_col) :].strip():
            return
        if self.comments and self.comments[-1][1] + 1 == first:
            first = self.comments.pop()[0]
        self.comments.append((first, last))

    def comment_runs(self) -> None:
        """Comments filling two or more lines in a row, each run as one ``//`` marker line."""
        for first, last in self.comments:
            if last == first or (first == 0 and self.rows[0].startswith("#!")):
                continue
            row = self.rows[first]
            indent = row[: len(row) - len(row.lstrip(" \t"))]
            end = self.starts[last] + len(self.rows[last])
            summary = _comment_summary(self.rows[first : last + 1])
            self.cuts.append(
                Cut(
                    self.starts[first],
                    end,
                    "comment",
                    {"lines": _range(first + 1, last + 1)},
                    before=f"{indent}// {summary}",
                    phase=2,
                )
            )

    def _add(self, body: Any, what: str, phase: int, name: str) -> None:
        open_row, open_col = body.start_point
        close_row, close_col = body.end_point
        if close_row - open_row < 2:
            return
        head = self.rows[open_row]
        after_open = _char_col(head, open_col + 1)
        if head[after_open:].strip():
            return  # code or a comment follows the opening brace
        tail = self.rows[close_row]
        before_close = _char_col(tail, close_col - 1)
        if tail[:before_close].strip():
            return  # code precedes the closing brace
        first, last = open_row + 1, close_row - 1
        start = self.starts[first]
        end = self.starts[last] + len(self.rows[last])
        self.cuts.append(
            Cut(
                start,
                end,
                what,
                {"lines": _range(first + 1, last + 1)},
                before=" /* ",
                after=" */ ",
                lead=start - (self.starts[open_row] + after_open),
                trail=before_close + 1,
                phase=phase,
                name=name,
            )
        )


def _name(node: Any, scope: str) -> str:
    """The name a function, class or literal is known by (``Class.method``), or ""."""
    own = node.child_by_field_name("name")
    if own is not None and node.type not in ("function_expression", "function"):
        return f"{scope}{_text(own)}"
    parent = node.parent
    if parent is None or parent.type not in _NAMING:
        return f"{scope}{_text(own)}" if own is not None else ""
    key = next(
        (
            parent.child_by_field_name(f)
            for f in ("name", "key", "left", "property")
            if parent.child_by_field_name(f) is not None
        ),
        None,
    )
    if key is None and parent.named_child_count:
        key = parent.named_children[0]
    return f"{scope}{_text(key)}" if key is not None and key != node else ""


def _comment_summary(rows: list[str]) -> str:
    """The first line of text of a comment (a JSDoc summary), with a trailing space, or ""."""
    for row in rows:
        words = row.strip().lstrip("/*").rstrip("/*").strip()
        if words and not words.startswith("@"):
            return f"{words[:160]} "
    return ""


def _text(node: Any) -> str:
    raw: bytes = node.text or b""
    return raw.decode("utf-8", "replace")[:80]


def _char_col(row: str, byte_col: int) -> int:
    """The character index in ``row`` of a UTF-8 byte column."""
    if row.isascii():
        return byte_col
    return len(row.encode("utf-8")[:byte_col].decode("utf-8", "replace"))


def _range(first: int, last: int) -> str:
    return str(first) if first == last else f"{first}-{last}"
