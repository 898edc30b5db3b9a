"""Sorting the int64 keys that pack (row, column) pairs, skipped when they come sorted: a graph's
edges are stored ordered by user and movie (reelgraph.features.graph), and at 25M ratings a sort
costs about a second on 2 cores where checking the order costs 20 ms.

Imports only torch.
"""

from __future__ import annotations

import torch


def sorted_keys(key: torch.Tensor, unique: bool = False) -> torch.Tensor:
    """A 1-d tensor's values in increasing order (unique: each value once), returned as they
    are when they already are."""
    if key.numel() < 2:
        return key
    ordered = key[1:] > key[:-1] if unique else key[1:] >= key[:-1]
    if bool(ordered.all()):
        return key
    return torch.unique(key) if unique else torch.sort(key).values


def unique_pairs(
    rows: torch.Tensor, cols: torch.Tensor, n_cols: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The distinct (row, col) pairs, ordered by row then col: the CSR order of the binary
    matrix they mark (one int64 key per pair, sorted only when it is not already)."""
    key = sorted_keys(rows * n_cols + cols, unique=True)
    return key // n_cols, key % n_cols
