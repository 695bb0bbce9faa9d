"""Lossy pass for code (skeleton) (reversible tier: see compress.reversible).

Placeholder: returns None (the pipeline keeps the lossless result) until the pass is written.
"""

from __future__ import annotations

from compression_layer.compress.reversible import LossyOutput
from compression_layer.compress.types import Domain


def reduce_code(
    text: str, domain: Domain, *, budget: int, query: str | None, handle: str
) -> LossyOutput | None:
    """Not written yet: no lossy pass for code (skeleton)."""
    del text, domain, budget, query, handle
    return None
