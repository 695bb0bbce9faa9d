"""Lossy pass for JSON (reversible tier: see compress.reversible).

Placeholder: returns None (the pipeline keeps the lossless result) until the pass is written.
"""

from __future__ import annotations

from compression_layer.compress.reversible import LossyOutput
from compression_layer.compress.types import Domain


def reduce_json(
    text: str, domain: Domain, *, budget: int, query: str | None, handle: str
) -> LossyOutput | None:
    """Not written yet: no lossy pass for JSON."""
    del text, domain, budget, query, handle
    return None
