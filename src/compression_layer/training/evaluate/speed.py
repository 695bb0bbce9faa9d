"""Latency and throughput of the extractive engine on ~500-token prose inputs (warm, in process)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from compression_layer.compress.extractive.engine import ExtractiveEngine
from compression_layer.tokens import count_tokens


def inputs_of_tokens(contexts: list[str], tokens: int = 500, count: int = 40) -> list[str]:
    """``count`` inputs of about ``tokens`` o200k tokens, built by joining whole contexts.

    Each input is cut at the last sentence end before the limit, so lengths stay within ~10%.
    """
    out: list[str] = []
    k = 0
    while len(out) < count and contexts:
        parts: list[str] = []
        while count_tokens(" ".join(parts)) < tokens:
            parts.append(contexts[k % len(contexts)])
            k += 1
        text = " ".join(parts)
        ids_cut = _cut(text, tokens)
        out.append(ids_cut)
    return out


def _cut(text: str, tokens: int) -> str:
    from compression_layer.tokens import encoding

    enc = encoding()
    head = enc.decode(enc.encode_ordinary(text)[:tokens])
    end = head.rfind(". ")
    return head[: end + 1] if end > len(head) // 2 else head


def latency(
    engine: ExtractiveEngine, texts: list[str], *, rate: float = 0.5, warmup: int = 3
) -> dict[str, Any]:
    """p50 / p95 wall time of single ``compress`` calls, after ``warmup`` calls."""
    for text in texts[:warmup]:
        engine.compress(text, rate=rate)
    times: list[float] = []
    for text in texts:
        start = time.perf_counter()
        engine.compress(text, rate=rate)
        times.append((time.perf_counter() - start) * 1000)
    return {
        "inputs": len(texts),
        "mean_tokens": round(float(np.mean([count_tokens(t) for t in texts])), 1),
        "p50_ms": round(float(np.percentile(times, 50)), 2),
        "p95_ms": round(float(np.percentile(times, 95)), 2),
    }


def throughput(
    engine: ExtractiveEngine, texts: list[str], *, rate: float = 0.5, batch: int = 16
) -> dict[str, Any]:
    """Input o200k tokens per second through ``compress_batch`` in batches of ``batch``."""
    engine.compress_batch(texts[:batch], rate=rate)
    total = sum(count_tokens(t) for t in texts)
    start = time.perf_counter()
    for b in range(0, len(texts), batch):
        engine.compress_batch(texts[b : b + batch], rate=rate)
    seconds = time.perf_counter() - start
    return {"tokens": total, "seconds": round(seconds, 3), "tokens_per_s": round(total / seconds)}
