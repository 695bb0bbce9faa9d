"""``embeddings.embed``: the vectors do not depend on how the texts are batched."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.slow


def test_vectors_are_the_same_for_every_batch_size() -> None:
    from compression_layer.embeddings import embed

    texts = [
        "Caroline went to the support group on 7 May.",
        "ok",
        "Melanie painted a sunrise over the lake last year, with purple clouds and a boat.",
        "Jon lost his job as a banker and opened a dance studio.",
        "Gina's store sells clothes online.",
    ]
    reference = embed(texts, batch_size=1)
    for size in (2, 16, 64):
        vectors = embed(texts, batch_size=size)
        assert vectors.shape == (5, 384)
        # Padding to a batch's longest text is masked out of the pooling.
        assert np.min(np.sum(vectors * reference, axis=1)) > 0.9999
    assert np.allclose(np.linalg.norm(reference, axis=1), 1.0, atol=1e-5)
