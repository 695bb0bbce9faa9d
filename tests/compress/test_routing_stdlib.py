"""Routing never breaks code: every module of three stdlib packages comes back AST-equal.

``compress()`` with no domain and no engine detects each file, routes it, and returns text whose
AST equals the input's. Docstrings are kept by default (``strip_docstrings`` is off), so the
comparison is of the whole tree, docstrings included.
"""

from __future__ import annotations

import ast
import email
import http
import json
from pathlib import Path

import pytest

from compression_layer.compress.pipeline import compress


def _modules() -> list[Path]:
    paths = []
    for package in (json, email, http):
        assert package.__file__ is not None
        paths.extend(sorted(Path(package.__file__).parent.rglob("*.py")))
    return paths


MODULES = _modules()


def test_the_packages_were_found() -> None:
    assert len(MODULES) >= 30


@pytest.mark.parametrize("path", MODULES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_auto_routing_keeps_the_ast(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    if not text.strip():
        pytest.skip("empty module: nothing to compress")
    out = compress(text)
    assert (out.domain, out.engine) == ("code:python", "structural")
    assert ast.dump(ast.parse(out.compressed)) == ast.dump(ast.parse(text))
    assert out.tokens_compressed <= out.tokens_original
