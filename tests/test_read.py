from __future__ import annotations

import numpy as np
import pytest

from warehouse.read import _top_k


@pytest.mark.parametrize("k", [1, 3, 10, 50, 200])
def test_top_k_equals_a_full_sort_with_ties_to_the_smaller_id(k: int) -> None:
    rng = np.random.default_rng(k)
    key = rng.integers(0, 8, size=120).astype(np.float32)  # many ties across the k-th key
    ids = rng.permutation(1000)[:120]
    expected = np.lexsort((ids, key))[:k]
    assert _top_k(key, ids, k).tolist() == expected.tolist()
