"""The store with the real packaged MiniLM embedder (loaded once for the module)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from compression_layer.memory import MemoryStore
from compression_layer.settings import MemorySettings
from memory_fakes import FakeCompressor

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def minilm() -> Any:
    from compression_layer.embeddings import load_embedder

    return load_embedder()


async def test_dense_search_finds_a_paraphrase_with_no_shared_words(
    minilm: Any, tmp_path: Path
) -> None:
    settings = MemorySettings(near_duplicate_policy="skip", synchronous="NORMAL")
    async with MemoryStore.open(
        tmp_path / "m.db", settings=settings, compressor=FakeCompressor(), embedder=minilm
    ) as store:
        assert store.embed_model == "all-MiniLM-L6-v2"
        stored = await store.store_many(
            [
                "My dog loves chasing tennis balls in the park.",
                "The invoice for March was paid by bank transfer.",
                "We are flying to Tokyo next spring for a conference.",
            ]
        )
        # No shared word and a modest cosine: a low calibrated score, under the default floor.
        hits = await store.search("puppy playing fetch outdoors", k=1, mode="dense", min_score=0)
        assert hits[0].id == stored[0].id
        hybrid = await store.search("trip to Japan", k=3, min_score=0)
        assert hybrid[0].id == stored[2].id
        # A near-duplicate under MiniLM (cosine >= 0.95) is skipped by the default policy.
        again = await store.store("My dog loves chasing tennis balls in the park!")
        assert again.status == "near_duplicate_skipped" and again.id == stored[0].id


def test_onnx_embedder_is_the_sentence_transformers_vector_space(minilm: Any) -> None:
    import numpy as np

    from compression_layer.embeddings import embed

    texts = [
        "Caroline (8 May 2023): I went to the LGBTQ support group yesterday.",
        "short",
        "The invoice for March was paid by bank transfer. " * 60,  # past 256 pieces: cut
        "Ünïcödé text with emoji 🎉 and CJK 東京",
    ]
    ours = embed(texts)
    theirs = minilm.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    assert ours.shape == (4, 384) and ours.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    assert float((ours * theirs).sum(axis=1).min()) > 0.9999
    # Order of the inputs is kept although batches are sorted by length.
    np.testing.assert_allclose(embed(texts[::-1])[::-1], ours, atol=1e-5)


_RACE = """
import sys, threading, traceback
from compression_layer.minilm import load_encoder, load_tokenizer
start = threading.Barrier(2)
errors = []
def run(load):
    start.wait()
    try:
        load()
    except BaseException:
        errors.append(traceback.format_exc())
loads = (lambda: load_encoder(2), load_tokenizer)
threads = [threading.Thread(target=run, args=(load,)) for load in loads]
for t in threads:
    t.start()
for t in threads:
    t.join()
sys.stderr.write("".join(errors))
sys.exit(1 if errors else 0)
"""


def test_loading_the_encoder_and_the_tokenizer_at_once_does_not_break_imports() -> None:
    """The memory store compresses and embeds in two threads; the first time, one loads
    ``AutoModel`` while the other loads ``AutoTokenizer``. transformers' lazy imports made one
    of them fail with "cannot import name" (every run, before ``minilm.import_lock``)."""
    import subprocess
    import sys

    runs = [
        subprocess.Popen(
            [sys.executable, "-c", _RACE], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    for run in runs:
        _, err = run.communicate(timeout=300)
        assert run.returncode == 0 and "Error" not in err, err[-2000:]
