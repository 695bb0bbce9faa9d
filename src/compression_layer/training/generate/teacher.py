"""The teacher call of ``train generate``: a domain-specific prompt in, a cleaned compression out.

Prompts are package data under ``compression_layer/data/prompts/teacher/``: ``system.txt`` plus
one template per domain (``prose``, ``code``, ``json``, ``log``, ``mixed``) with ``{{input}}``
and, for code, ``{{language}}`` slots, filled by the validation prompts' renderer (braces in code
are left alone). The request is an ordinary :class:`CompletionRequest`, so it goes through the
validation harness's provider layer, cache, budget and cost ledger.
"""

from __future__ import annotations

import hashlib
import math
import re
from functools import lru_cache
from importlib import resources

from compression_layer.errors import InputError
from compression_layer.training.generate.chunks import Chunk
from compression_layer.validation.providers.base import CompletionRequest
from compression_layer.validation.tasks import render

TEACHER_DOMAINS = ("prose", "code", "json", "log", "mixed")
_PROMPTS = "compression_layer.data.prompts.teacher"
_WRAPPING_FENCE = re.compile(r"\A(`{3,}|~{3,})[^\n]*\n(.*?)\n?\1[ \t]*\Z", re.DOTALL)
# Output room over the input's o200k count: other tokenizers (Claude's) run longer on the same
# text, and an output that would not fit is not a compression anyway.
OUTPUT_HEADROOM = 1.25
OUTPUT_EXTRA_TOKENS = 32


@lru_cache(maxsize=16)
def load_teacher_prompt(name: str) -> str:
    """The packaged teacher prompt ``<name>.txt``."""
    try:
        return resources.files(_PROMPTS).joinpath(f"{name}.txt").read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise InputError(f"no packaged teacher prompt named {name!r}") from exc


def template_for(domain: str) -> str:
    """The prompt name for a domain label (``code:go`` -> ``code``; unknown kinds -> ``prose``)."""
    kind = domain.partition(":")[0]
    return kind if kind in TEACHER_DOMAINS else "prose"


def prompts_digest() -> str:
    """sha256 over every teacher prompt: a run's outputs are only comparable under one digest."""
    digest = hashlib.sha256()
    for name in ("system", *TEACHER_DOMAINS):
        digest.update(load_teacher_prompt(name).encode("utf-8"))
    return digest.hexdigest()[:16]


def teacher_request(chunk: Chunk, model_id: str, max_tokens_cap: int) -> CompletionRequest:
    """The call that asks the teacher ``model_id`` to compress ``chunk``."""
    language = chunk.domain.partition(":")[2] or "source"
    prompt = render(
        load_teacher_prompt(template_for(chunk.domain)), input=chunk.text, language=language
    )
    room = math.ceil(chunk.tokens * OUTPUT_HEADROOM) + OUTPUT_EXTRA_TOKENS
    return CompletionRequest(
        model=model_id,
        system=load_teacher_prompt("system").strip(),
        prompt=prompt,
        max_tokens=min(max_tokens_cap, room),
    )


def clean_output(text: str, original: str) -> str:
    """The compression in a teacher reply: thinking blocks dropped, and a fence wrapped around the
    whole reply removed unless the original itself was one fenced block."""
    from compression_layer.compress.generative.prompt import strip_thinking

    out = strip_thinking(text)
    match = _WRAPPING_FENCE.match(out)
    if match and not _WRAPPING_FENCE.match(original.strip()):
        out = match.group(2)
    return out.strip()
