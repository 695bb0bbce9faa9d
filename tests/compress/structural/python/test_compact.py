"""The Python structural pass: same AST, fewer tokens, safe fallbacks."""

from __future__ import annotations

import ast
import textwrap

import pytest

from compression_layer.compress.structural.python import layout as layout
from compression_layer.compress.structural.python import tokens as pytokens
from compression_layer.compress.structural.python.compact import compress_python
from compression_layer.tokens import count_tokens
from repo_paths import PACKAGE_DIR

SRC = PACKAGE_DIR

TRICKY = {
    "fstrings": """
        name = "x"
        a = f"{name!r:>{10}} # not a comment {{braces}}"
        b = f'{ {"k": 1}["k"] }' + f"{'nested'}" + rf"\\d{name}"
    """,
    "nested_quotes": """
        s = "it's" + 'say "hi"' + '''tri'ple''' + \"\"\"a "b" c\"\"\"
        empty = "" "" "x"
        joined = 'a' 'b'
    """,
    "decorators": """
        @property
        @functools.lru_cache( maxsize = None )
        def f( self , * args , ** kwargs ) -> "int" :
            return  len( args )
    """,
    "continuation": """
        total = 1 + \\
            2 + \\
            3
        if total > 1 and \\
           total < 10:
            pass
        items = [
            1,  # one
            2,
        ]
    """,
    "walrus_match_async": """
        async def main(xs):
            if (n := len(xs)) > 2:
                await asyncio.sleep(0)
            async with lock as held, other:
                async for x in stream():
                    yield x
            match xs:
                case [1, *rest] if rest:
                    return rest
                case {"k": v, **others}:
                    return v
                case Point(x=0) | None:
                    pass
                case _:
                    return None
    """,
    "numbers_and_operators": """
        a = 1 .real + 1.5.real + 0x1F .bit_length() + 1_000 + 1e5j
        b = not -a
        c = - -a
        d = a ** -b
        e = a @ b
        f = a if b else - 1
        g = [x for x in range(3) if x]
        h = lambda: 0
        i = xs[1:-1:2]
        j = ...
        k = a is not b and a not in b
    """,
    "strings_with_hash": """
        url = "https://example.com/#anchor"  # real comment
        pattern = r'#\\s+[^#]'
        doc = '''
        # not a comment
           indented   text with trailing spaces  \x20
        '''
    """,
    "statements": """
        import os, sys
        from typing import (
            Any,
            Optional,
        )
        global_value = 1;
        def g():
            global global_value
            x = 1; y = 2;
            del x
            assert y, "message"
            try:
                raise ValueError("x")
            except (ValueError, TypeError) as exc:
                raise RuntimeError from exc
            finally:
                pass
            while False: break
            for i in range(2):
                continue
            else:
                pass
            with open(os.devnull) as fh, open(os.devnull) as gh: pass
            class Inner(Base, metaclass=Meta):
                attr: int = 0
                other: "Optional[Any]"
            return Inner
    """,
    "unicode": """
        café = "naïve"
        π = 3.14159  # pi
        def grüße(名前): return f"Hallo {名前}"
    """,
    "fragment": """
            def method(self, x):
                # comment
                return x  +  1

            def other(self):
                return 2
    """,
}


def _dump(src: str) -> str:
    try:
        return ast.dump(ast.parse(src))
    except SyntaxError:
        body = ast.parse("if 1:\n" + src).body[0]
        assert isinstance(body, ast.If)
        return ast.dump(ast.Module(body=body.body, type_ignores=[]))


@pytest.mark.parametrize("name", sorted(TRICKY))
def test_tricky_python_keeps_its_ast(name: str) -> None:
    src = textwrap.dedent(TRICKY[name]).lstrip("\n")
    if name == "fragment":
        src = textwrap.indent(textwrap.dedent(src), "    ")
    out = compress_python(src)
    assert out.checks == {"parsed": True, "ast_equal": True}, out.notes
    assert ast.dump(ast.parse(out.text)) == _dump(src)  # compressed fragments parse on their own
    assert len(out.text) < len(src)


def test_layout_rules_visible_in_output() -> None:
    src = textwrap.dedent(
        """
        def f( a, b ):   # comment
            x = foo( a, b )

            if x:
                return 1 .real
            return not -x
        """
    )
    out = compress_python(src).text
    assert "# comment" not in out
    assert "x=foo(a,b)" in out
    assert "if x:return 1 .real" in out  # a one-statement block moves onto its header
    assert "not-x" in out
    assert "\n\n" not in out


def test_kept_comments() -> None:
    src = (
        "#!/usr/bin/env python\n"
        "# -*- coding: utf-8 -*-\n"
        "import os  # noqa: F401\n"
        "x = os.missing  # type: ignore[attr-defined]\n"
        "y = call(\n"
        "    1,  # pyright: ignore[reportCallIssue]\n"
        "    2,\n"
        ")\n"
        "z = 1  # pragma: no cover\n"
    )
    out = compress_python(src)
    assert out.checks["ast_equal"]
    text = out.text
    assert text.startswith("#!/usr/bin/env python\n# -*- coding: utf-8 -*-\n")
    assert "x=os.missing # type: ignore[attr-defined]" in text
    assert "1, # pyright: ignore[reportCallIssue]\n2" in text  # still on the line of its token
    assert "noqa" not in text and "pragma" not in text


def test_strings_are_byte_identical() -> None:
    src = 'x = """\n  keep   this   \n\n\n"""\ny = "a  b"  # c\n'
    out = compress_python(src).text
    assert '"""\n  keep   this   \n\n\n"""' in out
    assert '"a  b"' in out


def test_docstrings_stripped_program_stays_valid() -> None:
    src = textwrap.dedent(
        '''
        """Module docstring."""
        import os


        class OnlyDoc:
            """Nothing else here."""


        class Both:
            """Doc."""

            attr = "not a docstring"

            def method(self):
                """Method doc."""; return os.sep

        def one_line(): "doc"

        async def coro():
            """Doc."""
            await thing()
        '''
    )
    out = compress_python(src, strip_docstrings=True)
    assert out.checks == {"parsed": True, "ast_equal": True}, out.notes
    compile(out.text, "<out>", "exec")
    for doc in ("Module docstring", "Nothing else", "Method doc", '"doc"'):
        assert doc not in out.text
    assert "not a docstring" in out.text
    assert "class OnlyDoc:pass" in out.text
    assert "def one_line():pass" in out.text
    kept = compress_python(src)
    assert "Method doc" in kept.text
    assert count_tokens(out.text) < count_tokens(kept.text)


def test_docstring_stripping_that_would_promote_a_string_falls_back() -> None:
    # Dropping the first string would make the second one the docstring: not the same program.
    src = 'def f():\n    """Doc."""\n    "second"\n    return 1\n'
    out = compress_python(src, strip_docstrings=True)
    assert out.checks["ast_equal"]
    assert '"second"' in out.text


def test_truncated_fragment_keeps_its_tokens_and_tail() -> None:
    src = "def f(a,\n        b):\n    x = [1,  # c\n         2\n"
    out = compress_python(src)
    assert out.checks == {"parsed": False, "tokens_equal": True}
    assert out.text == "def f(a,b):\n x=[1,2\n"
    tail = "x = 1\ny = '''unterminated  \n\n  text"
    out = compress_python(tail)
    assert out.checks["tokens_equal"]
    assert out.text.endswith("'''unterminated  \n\n  text")


def test_untokenizable_input_is_never_damaged() -> None:
    for src in ["x = $y\n", "def f(:\n  return '''x", "\tif x:\n        pass\n  else: pass\n"]:
        out = compress_python(src)
        assert out.notes
        assert out.text.split() == src.split() or out.checks.get("tokens_equal")


def test_crlf_and_bom_are_normalised() -> None:
    out = compress_python("\ufeffx = 1\r\nif x:\r\n    y = 2\r\n")
    assert out.text == "x=1\nif x:y=2\n"


def test_fast_and_pure_tokenizers_agree() -> None:
    if pytokens.fast_scan("x\n") is None:
        pytest.skip("the C tokenizer form of CPython 3.11 is not available here")
    for path in sorted(SRC.rglob("*.py"))[:25]:
        src = path.read_text(encoding="utf-8")
        fast = pytokens.fast_scan(src)
        if fast is None:
            continue  # a comment to keep that the C tokenizer cannot place
        toks, tail = pytokens.scan(src)
        assert layout.rewrite(src, fast, "", []) == layout.rewrite(src, toks, tail, []), path


def test_needs_space_rules() -> None:
    import tokenize as t

    assert layout.needs_space(t.NAME, "not", t.NAME, "x")
    assert layout.needs_space(t.NUMBER, "1", t.OP, ".")
    assert layout.needs_space(t.NUMBER, "1", t.NAME, "if")
    assert layout.needs_space(t.OP, "*", t.OP, "*")
    assert layout.needs_space(t.OP, "=", t.OP, "=")
    assert layout.needs_space(t.STRING, '""', t.STRING, '"x"')
    assert layout.needs_space(t.NAME, "else", t.STRING, 'b"x"')
    assert not layout.needs_space(t.OP, "=", t.OP, "-")
    assert not layout.needs_space(t.OP, ")", t.NAME, "x")
    assert not layout.needs_space(t.NAME, "return", t.STRING, '"x"')


def test_own_source_keeps_its_ast() -> None:
    files = sorted(SRC.rglob("*.py"))
    assert files
    before = after = 0
    for path in files:
        src = path.read_text(encoding="utf-8")
        try:
            ast.parse(src)
        except SyntaxError:
            continue  # a module someone is editing right now
        out = compress_python(src)
        assert out.checks.get("ast_equal"), (path, out.notes)
        before += count_tokens(src)
        after += count_tokens(out.text)
    assert after < 0.9 * before
