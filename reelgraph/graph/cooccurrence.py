"""Binary user x item matrices and their co-occurrence counts X'X: what EASE, RP3beta, GF-CF and
the ranking output's item filter are fitted from.

Imports only torch.
"""

from __future__ import annotations

import torch

from reelgraph.graph.keys import unique_pairs

# A user who rated more than items / DENSE_SHARE of the modelled movies is summed into X'X by a
# dense product, whose cost is items^2 whatever the user's count; the others by the sparse
# product, whose cost grows as the count squared. At 25M ratings and the item filter's 4,000
# movies the ~9,000 users above 250 of them hold 68% of the sparse product's work: X'X took
# 7.3-8.7 s against 10.0-11.6 s on 2 cores. At EASE's 6,000 it is no faster (there the sparse
# product's near-dense output costs most). Only the time changes: the counts are exact either way.
DENSE_SHARE = 16
DENSE_BLOCK = 4096  # heavy users per dense product (4,096 x 6,000 float32: 98 MB)


def binary_csr(rows: torch.Tensor, cols: torch.Tensor, n_rows: int, n_cols: int) -> torch.Tensor:
    """The (n_rows, n_cols) float32 sparse CSR matrix with a 1 at each (row, col) pair (a pair
    listed twice is still one)."""
    r, c = unique_pairs(rows, cols, n_cols)
    crow = torch.zeros(n_rows + 1, dtype=torch.long)
    crow[1:] = torch.cumsum(torch.bincount(r, minlength=n_rows), 0)
    return torch.sparse_csr_tensor(
        crow, c, torch.ones(c.numel()), (n_rows, n_cols), check_invariants=False
    )


def interaction_gram(
    users: torch.Tensor, movies: torch.Tensor, n_users: int, items: torch.Tensor, n_movies: int
) -> torch.Tensor:
    """X'X (float64, items x items) of the binary user x item matrix X of the rated pairs (movies
    outside `items`, sorted movie indices, left out): light users' rows by one sparse CSR
    product, heavy users' by dense products (DENSE_SHARE). Exact: each dense block's counts are
    at most DENSE_BLOCK, and the sparse product's stay far below float32's 2^24."""
    column = torch.full((n_movies,), -1, dtype=torch.long)
    column[items] = torch.arange(items.numel())
    col = column[movies]
    inside = col >= 0
    n_items = items.numel()
    u, c = unique_pairs(users[inside], col[inside], n_items)
    heavy = torch.bincount(u, minlength=n_users) > n_items // DENSE_SHARE
    of_heavy = heavy[u]
    gram = torch.zeros((n_items, n_items), dtype=torch.float64)
    light_u, light_c = u[~of_heavy], c[~of_heavy]
    if light_u.numel():
        light = binary_csr(light_c, light_u, n_items, n_users) @ binary_csr(
            light_u, light_c, n_users, n_items
        )
        gram += light.to_dense()
    # Each heavy user's dense row: pairs stay ordered by user, so a block's pairs are a slice.
    row = (torch.cumsum(heavy, 0) - 1)[u[of_heavy]]
    heavy_c = c[of_heavy]
    n_heavy = int(heavy.sum())
    counts = torch.zeros((n_items, n_items))  # float32 sums of 0/1: exact below 2^24 users
    for lo in range(0, n_heavy, DENSE_BLOCK):
        a, b = torch.searchsorted(row, torch.tensor([lo, lo + DENSE_BLOCK])).tolist()
        block = torch.zeros((min(DENSE_BLOCK, n_heavy - lo), n_items))
        block[row[a:b] - lo, heavy_c[a:b]] = 1.0
        counts.addmm_(block.T, block)
        if (lo // DENSE_BLOCK + 1) % (2**24 // DENSE_BLOCK) == 0:
            gram += counts
            counts.zero_()
    return gram + counts
