"""The reversible tier's contract: lossy passes that name what they left out and how to get it.

A lossy pass runs only when the caller gave a budget (``rate`` or ``target_tokens``) and an
:class:`OriginalSink` kept the input first: every omission is then recoverable through the
handle the sink returned. Without a sink (or when storing fails) the pipeline stays lossless.

Markers
-------
Every omission leaves one inline marker, in a form a model reads without instructions::

    [47 rows omitted: retrieve o_3fa9c2d1e0 rows=5-51]
    [1203 lines omitted: retrieve o_3fa9c2d1e0 lines=220-1422]
    [body omitted: retrieve o_3fa9c2d1e0 symbol=Cache.get]

:func:`marker` writes them; :data:`MARKER_RE` finds them; :func:`selector_of` reads the selector
back. Selectors, all optional and combinable as the original store's ``retrieve`` accepts them:

* ``lines=A-B`` (1-based, inclusive; ``A-B,C,D-E`` for several ranges) — lines of the original;
* ``path=$.a.b[3]`` — a JSON path (``$`` the document; ``.key`` or ``["key"]``; ``[i]``);
* ``rows=A-B`` — elements A..B (0-based, inclusive) of the array at ``path`` (default ``$``);
* ``symbol=Name`` or ``symbol=Class.method`` — a function or class of source code, by name;
* ``match=TEXT`` — the lines that contain TEXT (the value runs to the closing ``]``).

Retrieving a marker's selector returns exactly the original text it stands for (lines and
symbols as source text; rows and paths as the original JSON text of each element).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from compression_layer.compress.types import Domain

HANDLE_PREFIX = "o_"
HANDLE_RE = re.compile(r"\bo_[0-9a-f]{10,64}\b")
SELECTOR_KEYS = ("path", "rows", "lines", "symbol", "match")
MARKER_RE = re.compile(
    r"\[(?P<what>[^\[\]\n]*?) omitted: retrieve (?P<handle>o_[0-9a-f]{10,64})"
    r"(?P<selector>(?: (?:path|rows|lines|symbol|match)=(?:[^\[\]\n]|\[[^\[\]\n]*\])*?)*)\]"
)
_SELECTOR_PART = re.compile(r" (path|rows|lines|symbol)=(\S+)| match=(.*)$")


class OriginalSink(Protocol):
    """Where an input is kept before a lossy pass drops any of it.

    ``put`` stores ``text`` (content-addressed: the same text gives the same handle within a
    namespace) and returns its handle; it raises on failure, and the pipeline then stays lossless.
    """

    def put(self, text: str, *, domain: str) -> str: ...


def marker(handle: str, what: str, **selector: str | int | None) -> str:
    """``[<what> omitted: retrieve <handle> key=value ...]``; ``match`` always goes last."""
    parts = [
        f"{key}={selector[key]}"
        for key in SELECTOR_KEYS
        if key != "match" and selector.get(key) not in (None, "")
    ]
    if selector.get("match") not in (None, ""):
        parts.append(f"match={selector['match']}")
    unknown = set(selector) - set(SELECTOR_KEYS)
    if unknown:
        raise ValueError(f"unknown selector keys: {sorted(unknown)}")
    tail = "".join(f" {part}" for part in parts)
    return f"[{what} omitted: retrieve {handle}{tail}]"


def selector_of(found: re.Match[str]) -> dict[str, str]:
    """The selector a :data:`MARKER_RE` match carries, as ``retrieve`` keyword arguments."""
    out: dict[str, str] = {}
    rest = found.group("selector")
    while rest:
        part = _SELECTOR_PART.match(rest)
        if part is None:
            break
        if part.group(1):
            out[part.group(1)] = part.group(2)
            rest = rest[part.end() :]
        else:
            out["match"] = part.group(3)
            break
    return out


def line_ranges(numbers: list[int]) -> str:
    """1-based line numbers -> ``"3-9,15,22-30"`` (sorted, merged)."""
    spans: list[tuple[int, int]] = []
    for n in sorted(set(numbers)):
        if spans and n == spans[-1][1] + 1:
            spans[-1] = (spans[-1][0], n)
        else:
            spans.append((n, n))
    return ",".join(f"{a}-{b}" if a != b else str(a) for a, b in spans)


@dataclass
class LossyOutput:
    """What a lossy pass returns: its text (with markers), how many items it left out, notes."""

    text: str
    omitted: int = 0
    notes: list[str] = field(default_factory=list)


LossyPass = Callable[..., "LossyOutput | None"]
"""``(text, domain, *, budget, query, handle) -> LossyOutput | None``.

``budget`` is the token budget of the output (o200k_base), ``query`` the caller's question or
None, ``handle`` the handle the original was stored under. A pass returns None when it has
nothing to offer for this text (the pipeline then keeps the lossless result).
"""


def budget_for(tokens_original: int, rate: float | None, target_tokens: int | None) -> int:
    """The token budget a lossy pass aims at: ``target_tokens``, else ``rate`` of the input."""
    if target_tokens is not None:
        return max(1, target_tokens)
    return max(1, round(tokens_original * (rate if rate is not None else 1.0)))


def accepts(domain: Domain) -> bool:
    """Domains the reversible tier has a lossy pass for."""
    return domain.kind in ("json", "log", "code", "prose", "mixed")
