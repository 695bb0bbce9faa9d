"""``VectorIndex.following``: the memory stored right after each of some memories."""

from __future__ import annotations

import numpy as np

from compression_layer.memory.vectors import VectorIndex


def _index(pks: list[int]) -> VectorIndex:
    return VectorIndex.from_rows(2, pks, np.ones((len(pks), 2), dtype=np.float32))


def test_the_next_pk_of_the_namespace_follows_each_listed_pk() -> None:
    index = _index([3, 4, 9, 12])
    assert index.following([3, 9, 12]) == {3: 4, 9: 12}  # 12 is the last: no follower
    assert index.following([5]) == {}  # not in this index
    assert index.following([]) == {}


def test_with_allowed_the_next_allowed_pk_follows() -> None:
    index = _index([3, 4, 9, 12])
    assert index.following([3, 4], allowed=[3, 9, 12]) == {3: 9}  # 4 is filtered out
    assert index.following([3], allowed=[]) == {}


def test_an_index_out_of_pk_order_names_no_followers() -> None:
    index = _index([4, 3, 9])
    assert not index.ascending
    assert index.following([3, 4]) == {}
