"""Lossy pass for code: a skeleton that still parses (reversible tier: see compress.reversible).

Python (through ``ast``) and JavaScript / TypeScript (through tree-sitter) keep their imports,
module constants, decorators, class and function signatures and the first line of each
docstring; bodies give way to a marker the language accepts::

    def get(self, key: str) -> bytes | None:
        \"\"\"Return the cached value.\"\"\"
        ...  # [body omitted: retrieve o_3fa9c2d1e0 symbol=Cache.get]

    function load(path) { /* [body omitted: retrieve o_3fa9c2d1e0 lines=12-40] */ }

Each marker's selector gives back exactly what it stands for: ``lines=`` the omitted lines,
``symbol=`` (Python definitions whose qualified name is unique in the module) the definition
that encloses them. The budget decides how far the skeleton goes: function bodies first, then
long values and top-level blocks, then whole classes; within each step the bodies least related
to the query go first, the largest among equals, and it stops once the output fits, so a
generous budget keeps small bodies whole. The output is parsed again before it is returned.
Other languages get None (the pipeline keeps the lossless result).
"""

from __future__ import annotations

import ast

from compression_layer.compress.reversible import LossyOutput
from compression_layer.compress.structural.cuts import Cut, apply, choose
from compression_layer.compress.structural.skeleton_js import (
    parses_cleanly,
    script_cuts,
    script_languages,
)
from compression_layer.compress.structural.skeleton_py import python_cuts
from compression_layer.compress.types import Domain
from compression_layer.tokens import count_tokens

_PYTHON = frozenset({"python", "py", "python3", "py3"})


def reduce_code(
    text: str, domain: Domain, *, budget: int, query: str | None, handle: str
) -> LossyOutput | None:
    """A skeleton of ``text`` within ``budget`` tokens where its bodies allow, else the floor.

    None when the language has no skeleton here, the text does not parse, or nothing needs to
    (or can) go. When even the full skeleton is over ``budget`` it is returned with a note.
    """
    language = (domain.language or "").lower()
    cuts: list[Cut] | None
    if language in _PYTHON:
        cuts = python_cuts(text)
    elif language in script_languages():
        cuts = script_cuts(text, language)
    else:
        return None
    if not cuts:
        return None
    total = count_tokens(text)
    if total <= budget:
        return None
    chosen = choose(text, cuts, budget=budget, query=query, handle=handle, total=total)
    if not chosen:
        return None
    out = apply(text, cuts, chosen, handle)
    if not _parses(out, language):
        return None  # never hand back code that no longer parses
    notes = [f"code skeleton: {len(chosen)} bodies or values omitted"]
    tokens = count_tokens(out)
    if tokens > budget:
        notes.append(f"the skeleton is {tokens} tokens, over the budget of {budget}")
    return LossyOutput(out, omitted=len(chosen), notes=notes)


def _parses(text: str, language: str) -> bool:
    if language in _PYTHON:
        try:
            ast.parse(text)
        except (SyntaxError, ValueError, RecursionError):
            return False
        return True
    return parses_cleanly(text, language)
