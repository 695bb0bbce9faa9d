"""Fast deterministic stand-ins for the compressor and the embedder (also used by subprocesses)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

DIM = 32
_WORD = re.compile(r"\w+")


@dataclass
class FakeResult:
    compressed: str
    engine: str = "fake"
    domain: str = "prose"
    adapter: str | None = None


@dataclass
class FakeCompressor:
    """Keeps words longer than three letters; counts its calls."""

    calls: list[str] = field(default_factory=list)

    def __call__(self, text: str) -> FakeResult:
        self.calls.append(text)
        kept = [w for w in text.split() if len(w.strip(".,!?")) > 3]
        return FakeResult(" ".join(kept) or text)


def _word_vector(word: str) -> npt.NDArray[np.float32]:
    seed = int.from_bytes(hashlib.sha256(word.encode("utf-8")).digest()[:8], "little")
    return np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)


@dataclass
class FakeEmbedder:
    """Bag-of-words vectors: texts sharing words are close, the same words give the same vector."""

    model_name: str = "fake-bow"
    calls: list[list[str]] = field(default_factory=list)

    def __call__(self, texts: list[str]) -> npt.NDArray[np.float32]:
        self.calls.append(list(texts))
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in _WORD.findall(text.lower()):
                out[i] += _word_vector(word)
        return out

    @property
    def embedded(self) -> list[str]:
        return [t for batch in self.calls for t in batch]
