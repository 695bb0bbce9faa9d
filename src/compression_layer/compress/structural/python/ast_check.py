"""The AST side of the Python pass: parsing fragments, finding docstrings, comparing trees.

:func:`same_tree` is the check every Python result passes: ``ast.dump(a) == ast.dump(b)``,
field by field and with types, positions aside, computed without building the dumps.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from typing import Any

DOC_OWNERS = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)


def parse_fragment(src: str) -> tuple[ast.Module, int] | None:
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


def is_doc(stmt: ast.stmt) -> bool:
    return (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Constant)
        and isinstance(stmt.value.value, str)
    )


def drop_docstrings(tree: ast.Module) -> list[tuple[Any, list[ast.stmt]]]:
    """Drop every docstring in place (``pass`` where a body would be empty); returns the
    owners with their original bodies, to undo it."""
    dropped = []
    for node in doc_owners(tree):
        if node.body and is_doc(node.body[0]):
            dropped.append((node, node.body))
            node.body = node.body[1:] or [ast.Pass()]
    return dropped


def doc_owners(tree: ast.Module) -> Iterator[Any]:
    """The module, classes and functions of ``tree``. Only statements can hold them, so
    expressions (nine nodes in ten) are never visited, unlike with ``ast.walk``."""
    stack: list[Any] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, DOC_OWNERS):
            yield node
        for field in _STATEMENT_LISTS:
            stmts = getattr(node, field, None)
            if type(stmts) is list:
                stack.extend(stmts)


_STATEMENT_LISTS = ("body", "orelse", "finalbody", "handlers", "cases")


def same_tree(a: ast.AST, b: ast.AST) -> bool:
    """``ast.dump(a) == ast.dump(b)`` (fields only, no positions), without building strings.

    Every field of every node is compared, with its type (``1`` is not ``1.0`` or ``True``); NaN
    equals itself here. The recursive comparators below are about twice as fast as a walk; a
    tree too deep for them, or a hand-built node missing a field, goes through the walk.
    """
    try:
        return _same(a, b)
    except (RecursionError, AttributeError):
        return same_walk(a, b)


def _same(u: Any, v: Any) -> bool:
    t = type(u)
    if t is not type(v):
        return False
    if t is list:
        if len(u) != len(v):
            return False
        for x, y in zip(u, v, strict=True):  # noqa: SIM110 (a loop beats all() here)
            if x is not y and not _same(x, y):
                return False
        return True
    if isinstance(u, ast.AST):
        compare = _COMPARATORS.get(t)
        return (compare or _comparator(t))(u, v)
    return bool(u == v) or (u != u and v != v)


def _comparator(cls: type[ast.AST]) -> Callable[[Any, Any], bool]:
    """A function comparing two nodes of ``cls`` field by field, written out for that class:
    one attribute load per field instead of a generic loop over ``_fields``."""
    fields = [f for f in cls._fields if f.isidentifier()]
    if len(fields) != len(cls._fields):
        compare: Callable[[Any, Any], bool] = same_walk
    else:
        body = " and ".join(f"(x.{f} is y.{f} or same(x.{f}, y.{f}))" for f in fields)
        namespace: dict[str, Any] = {"same": _same}
        exec(f"def compare(x, y):\n    return {body or 'True'}\n", namespace)
        compare = namespace["compare"]
    _COMPARATORS[cls] = compare
    return compare


_COMPARATORS: dict[type, Callable[[Any, Any], bool]] = {}


def same_walk(a: ast.AST, b: ast.AST) -> bool:
    node, seq = ast.AST, (ast.AST, list)
    stack: list[tuple[Any, Any]] = [(a, b)]
    push, pop = stack.append, stack.pop
    while stack:
        x, y = pop()
        if isinstance(x, node):
            for field in x._fields:
                u, v = getattr(x, field, None), getattr(y, field, None)
                if type(u) is not type(v):
                    return False
                if isinstance(u, seq):
                    push((u, v))
                elif u != v and not (u != u and v != v):  # NaN equals itself here
                    return False
        elif len(x) != len(y):
            return False
        else:
            for u, v in zip(x, y, strict=True):
                if type(u) is not type(v):
                    return False
                if isinstance(u, seq):
                    push((u, v))
                elif u != v and not (u != u and v != v):
                    return False
    return type(a) is type(b)
