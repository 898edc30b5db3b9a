"""Small torch helpers the model's modules share: a table padded for nodes added after training,
and draws seeded apart from the global generator.

Imports only torch.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


def padded_rows(table: torch.Tensor, n: int) -> torch.Tensor:
    """The table's rows, then zero rows up to n: nodes added after training have no row."""
    if n > table.shape[0]:
        table = torch.cat([table, table.new_zeros(n - table.shape[0], table.shape[1])])
    return table


@contextlib.contextmanager
def seeded_apart(seed: int) -> Iterator[None]:
    """Random draws inside come from `seed`, and the global (CPU) generator is as it was
    afterwards: what is drawn after does not depend on what was drawn inside."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield
