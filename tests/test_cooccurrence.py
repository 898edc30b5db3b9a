"""X'X of the binary user x item matrix (reelgraph.graph.cooccurrence) and the sorts it skips
(reelgraph.graph.keys): the same counts whichever users go through the dense products."""

from __future__ import annotations

import pytest
import torch

from reelgraph.graph import cooccurrence
from reelgraph.graph.cooccurrence import interaction_gram
from reelgraph.graph.keys import sorted_keys, unique_pairs


def test_gram_of_a_hand_computed_case() -> None:
    # user 0 rated movies 0, 1, 3 (1 twice); user 1 rated 1, 2; user 2 rated 3 only.
    users = torch.tensor([0, 0, 0, 0, 1, 1, 2])
    movies = torch.tensor([1, 0, 3, 1, 2, 1, 3])
    items = torch.tensor([0, 1, 2])  # movie 3 is outside the modelled items
    expected = torch.tensor([[1, 1, 0], [1, 2, 1], [0, 1, 1]], dtype=torch.float64)
    gram = interaction_gram(users, movies, 3, items, 4)
    assert gram.dtype == torch.float64
    assert torch.equal(gram, expected)


@pytest.mark.parametrize("share", [1, 4, 10**9])  # every user sparse, a mix, every user dense
def test_dense_and_sparse_users_add_up_to_the_same_counts(
    monkeypatch: pytest.MonkeyPatch, share: int
) -> None:
    g = torch.Generator().manual_seed(0)
    n_users, n_movies = 300, 120
    # Some users rate many movies, most a few: both kinds of user at share 4.
    counts = torch.where(torch.rand(n_users, generator=g) < 0.1, 80, 6)
    users = torch.repeat_interleave(torch.arange(n_users), counts)
    movies = torch.randint(0, n_movies, (users.numel(),), generator=g)
    items = torch.sort(torch.randperm(n_movies, generator=g)[:90]).values
    col = torch.full((n_movies,), -1)
    col[items] = torch.arange(items.numel())
    inside = col[movies] >= 0
    x = torch.zeros(n_users, items.numel(), dtype=torch.float64)
    x[users[inside], col[movies[inside]]] = 1.0
    monkeypatch.setattr(cooccurrence, "DENSE_SHARE", share)
    monkeypatch.setattr(cooccurrence, "DENSE_BLOCK", 7)  # several dense blocks
    for order in (torch.arange(users.numel()), torch.randperm(users.numel(), generator=g)):
        assert torch.equal(
            interaction_gram(users[order], movies[order], n_users, items, n_movies), x.T @ x
        )


def test_sorted_keys_skip_the_sort_only_when_the_order_holds() -> None:
    ordered = torch.tensor([1, 2, 2, 5])
    assert sorted_keys(ordered) is ordered
    assert torch.equal(sorted_keys(ordered, unique=True), torch.tensor([1, 2, 5]))
    assert torch.equal(sorted_keys(torch.tensor([3, 1, 2, 1])), torch.tensor([1, 1, 2, 3]))
    assert torch.equal(sorted_keys(torch.tensor([3, 1, 1]), unique=True), torch.tensor([1, 3]))
    assert sorted_keys(torch.tensor([], dtype=torch.long)).numel() == 0


def test_unique_pairs_are_the_distinct_pairs_by_row_then_column() -> None:
    rows, cols = unique_pairs(torch.tensor([2, 0, 2, 0, 1]), torch.tensor([1, 3, 1, 0, 3]), 4)
    assert rows.tolist() == [0, 0, 1, 2] and cols.tolist() == [0, 3, 3, 1]
