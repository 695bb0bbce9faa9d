"""The Python pass, second part: trailing commas, idempotence and the AST comparison itself."""

from __future__ import annotations

import ast
import sys

import pytest

from compression_layer.compress.facts import missing
from compression_layer.compress.structural.python import ast_check as pyast
from compression_layer.compress.structural.python.compact import compress_python
from repo_paths import PACKAGE_DIR

SRC = PACKAGE_DIR

# (source, expected compressed text): commas that change nothing go, the others stay.
COMMAS = [
    ("f(a, b,)\n", "f(a,b)\n"),
    ("f(a,)\n", "f(a)\n"),
    ("def f(a,):\n    pass\n", "def f(a):pass\n"),
    ("class A(B,):\n    pass\n", "class A(B):pass\n"),
    ("x = [1,]\n", "x=[1]\n"),
    ("x = {1,}\n", "x={1}\n"),
    ("x = {1: 2,}\n", "x={1:2}\n"),
    ("t = (1, 2,)\n", "t=(1,2)\n"),
    ("y = x[a, b,]\n", "y=x[a,b]\n"),
    ("f(\n    a,\n    b,\n)\n", "f(a,b)\n"),
    ("obj.m(a,)(b,)\n", "obj.m(a)(b)\n"),
    # A one-element tuple keeps its comma, wherever it appears.
    ("t = (1,)\n", "t=(1,)\n"),
    ("y = x[a,]\n", "y=x[a,]\n"),
    ("y = x[1:2,]\n", "y=x[1:2,]\n"),
    ("f((a,))\n", "f((a,))\n"),
    ("t = (lambda a, b: a,)\n", "t=(lambda a,b:a,)\n"),
    ("t = (lambda: 0, lambda: 1,)\n", "t=(lambda:0,lambda:1)\n"),
    ("for x in (a,):\n    pass\n", "for x in(a,):pass\n"),
    ("try:\n    pass\nexcept (A,):\n    pass\n", "try:pass\nexcept(A,):pass\n"),
    ("def g():\n    return (a,)\n", "def g():return(a,)\n"),
    ("match (a,):\n    case _:\n        pass\n", "match(a,):\n case _:pass\n"),
    # Kept conservatively: the parentheses of an import are not a call.
    ("from m import (a,)\n", "from m import(a,)\n"),
    # A kept comment after the comma: the comma stays with it.
    ("f(\n    a,  # type: ignore\n)\n", "f(a, # type: ignore\n)\n"),
]


@pytest.mark.parametrize(("src", "expected"), COMMAS)
def test_trailing_commas(src: str, expected: str) -> None:
    out = compress_python(src)
    assert out.checks == {"parsed": True, "ast_equal": True}, out.notes
    assert out.text == expected
    assert ast.dump(ast.parse(out.text)) == ast.dump(ast.parse(src))


def test_numbers_that_would_read_as_one_keep_their_space() -> None:
    # ``0,910`` reads as nine hundred and ten (a thousands group): the facts would be lost.
    src = "v = (0, 910)\nw = f(1, 200, 300)\nx = (1, 20)\ny = (1.5, 200)\nz = [1000, 200]\n"
    out = compress_python(src)
    assert out.text == "v=(0, 910);w=f(1, 200, 300);x=(1,20);y=(1.5,200);z=[1000,200]\n"
    assert not missing(src, out.text)


def test_trailing_commas_stay_in_unparseable_input() -> None:
    # Checked by its token stream, which a dropped comma would change.
    src = "f(a, b,)\nx = (\n"
    out = compress_python(src)
    assert out.checks.get("tokens_equal"), out.notes
    assert "f(a,b,)" in out.text


def test_own_source_is_idempotent_and_keeps_its_facts() -> None:
    for path in sorted(SRC.rglob("*.py")):
        src = path.read_text(encoding="utf-8")
        once = compress_python(src)
        if not once.checks.get("ast_equal"):
            continue  # a module someone is editing right now
        assert compress_python(once.text).text == once.text, path
        # Facts outside comments survive: every one lost must be in a comment of the input.
        no_comments = compress_python(_only_code(src)).text
        assert not missing(_only_code(src), no_comments), path


def _only_code(src: str) -> str:
    import io
    import tokenize

    toks = tokenize.generate_tokens(io.StringIO(src).readline)
    return tokenize.untokenize(t for t in toks if t.type != tokenize.COMMENT)


def test_strip_docstrings_is_idempotent() -> None:
    src = 'def f():\n    """Doc."""\n    return 1\n\nclass A:\n    """Doc."""\n'
    once = compress_python(src, strip_docstrings=True)
    assert once.text == "def f():return 1\nclass A:pass\n"
    assert compress_python(once.text, strip_docstrings=True).text == once.text


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("x = 1", "x = 1.0"),
        ("x = 1", "x = True"),
        ("x = 'a'", "x = b'a'"),
        ("x = a", "x = b"),
        ("f(a, b)", "f(a)"),
        ("f(a)", "f(a=a)"),
        ("x = u'a'", "x = 'a'"),  # Constant.kind
        ("x = a.b", "x = (a).c"),
        ("del x", "x"),
        ("x: int", "x: int = 0"),
    ],
)
def test_same_tree_sees_every_difference(a: str, b: str) -> None:
    assert not pyast.same_tree(ast.parse(a), ast.parse(b))
    assert not pyast.same_walk(ast.parse(a), ast.parse(b))
    assert pyast.same_tree(ast.parse(a), ast.parse(a))


def test_same_tree_nan_and_positions() -> None:
    assert pyast.same_tree(ast.parse("x = 1e999 * 0"), ast.parse("x=1e999*0"))
    nan = ast.parse("x = 0")
    stmt = nan.body[0]
    assert isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Constant)
    stmt.value.value = float("nan")
    assert pyast.same_tree(nan, nan)
    assert pyast.same_tree(ast.parse("if a:\n    b\n"), ast.parse("if a:b"))


def test_same_tree_falls_back_on_deep_and_hand_built_trees() -> None:
    deep = "x = " + " + ".join(["a"] * (sys.getrecursionlimit() + 50))
    assert pyast.same_tree(ast.parse(deep), ast.parse(deep))
    assert not pyast.same_tree(ast.parse(deep), ast.parse(deep + " + a"))
    bare = ast.Module(body=[ast.Expr()], type_ignores=[])  # Expr without its value field
    assert not pyast.same_tree(bare, ast.parse("x"))
    assert pyast.same_tree(bare, ast.Module(body=[ast.Expr()], type_ignores=[]))


def test_dropping_docstrings_can_be_undone() -> None:
    tree = ast.parse('"""M."""\nclass A:\n    """C."""\n    def f(self):\n        """F."""\n')
    before = ast.dump(tree)
    dropped = pyast.drop_docstrings(tree)
    assert len(dropped) == 3
    assert "M." not in ast.dump(tree) and "F." not in ast.dump(tree)
    for owner, body in dropped:
        owner.body = body
    assert ast.dump(tree) == before


def test_docstrings_found_in_every_statement_list() -> None:
    src = (
        "if x:\n    def a():\n        'A'\nelse:\n    def b():\n        'B'\n"
        "try:\n    pass\nexcept E:\n    class C:\n        'C'\n"
        "finally:\n    def d():\n        'D'\n"
        "match v:\n    case 1:\n        def e():\n            'E'\n"
        "with m:\n    async def f():\n        'F'\n"
    )
    out = compress_python(src, strip_docstrings=True)
    assert out.checks.get("ast_equal"), out.notes
    for doc in "ABCDEF":
        assert f"'{doc}'" not in out.text
