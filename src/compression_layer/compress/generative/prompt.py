"""The generative prompt, exactly the training format, and the output cap."""

from __future__ import annotations

import math
import re

from compression_layer.compress.types import CompressRequest
from compression_layer.settings import GenerativeSettings

SYSTEM_PROMPT = (
    "You are a semantic compression engine. Compress the input into minimal tokens while "
    "preserving all information for equivalent LLM reasoning. Use dense notation: labeled "
    "fields, standard abbreviations, and symbols (→ | + @). Never lose information."
)
_THINK = re.compile(r"<think>.*?</think>\s*", re.DOTALL)


def strip_thinking(text: str) -> str:
    """Drop ``<think>...</think>`` blocks (Qwen3 hybrid models) and surrounding whitespace."""
    return _THINK.sub("", text).strip()


def messages_for(text: str) -> list[dict[str, str]]:
    """The chat messages of one compression, in the training data's exact format."""
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": f"Compress:\n{text}"},
    ]


def output_cap(n_input: int, request: CompressRequest, settings: GenerativeSettings) -> int:
    """Generated-token cap: the budget (``target_tokens`` or input * rate) with headroom."""
    if request.target_tokens is not None:
        budget = float(request.target_tokens)
    else:
        budget = n_input * (request.rate if request.rate is not None else 1.0)
    cap = math.ceil(budget * settings.max_tokens_factor) + settings.min_new_tokens
    return max(1, min(cap, settings.max_new_tokens))
