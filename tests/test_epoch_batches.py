"""An epoch's mini-batches (reelgraph.train.steps.batches): a pass in random order, or a few
batches of distinct random items drawn without permuting them all."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import chisquare

from reelgraph.train.steps import SAMPLE_BELOW_SHARE, batches, distinct_sample


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_distinct_sample_gives_k_distinct_indices_in_range_repeatably() -> None:
    first = distinct_sample(100_000, 5_000, _gen(3))
    assert first.numel() == 5_000
    assert torch.unique(first).numel() == 5_000
    assert int(first.min()) >= 0 and int(first.max()) < 100_000
    assert torch.equal(first, distinct_sample(100_000, 5_000, _gen(3)))
    assert not torch.equal(first, distinct_sample(100_000, 5_000, _gen(4)))


def test_distinct_sample_is_uniform_in_which_items_and_in_their_order() -> None:
    """Every index as likely to be drawn, and to come first: a sample returned in sorted order
    (what torch.unique leaves) would put small indices first and fail the second test."""
    n, k, draws = 48, 3, 6_000
    gen = _gen(0)
    samples = np.stack([distinct_sample(n, k, gen).numpy() for _ in range(draws)])
    assert all(len(set(row)) == k for row in samples)
    drawn = np.bincount(samples.ravel(), minlength=n)
    first = np.bincount(samples[:, 0], minlength=n)
    assert chisquare(drawn).pvalue > 1e-3
    assert chisquare(first).pvalue > 1e-3


def test_distinct_sample_refuses_more_than_there_are() -> None:
    with pytest.raises(ValueError, match="cannot draw 11 distinct indices below 10"):
        distinct_sample(10, 11, _gen())


def test_few_batches_of_many_items_are_distinct_draws() -> None:
    n, size, steps = 64 * 100 * SAMPLE_BELOW_SHARE, 100, 64
    out = list(batches(n, size, steps, _gen()))
    assert [b.numel() for b in out] == [size] * steps
    assert torch.unique(torch.cat(out)).numel() == size * steps


def test_a_whole_pass_is_a_permutation_of_every_item() -> None:
    out = list(batches(1_000, 64, 100, _gen()))
    assert torch.equal(torch.sort(torch.cat(out)).values, torch.arange(1_000))
    assert list(batches(50, 64, 100, _gen())) == [None]  # one batch of everything
    assert list(batches(0, 64, 100, _gen())) == []
