"""The ranking output's closed-form channel: a low-rank EASE item-item filter beside the
GraphSAGE ranking encoder, in the same dot-product form.

    rank(u, m) = <y_u, y_m> + c_m  +  w * <f_u, q_m>
    f_u = sum of p_j over the movies j user u rated in train

EASE (Steck 2019) fits B = I - P / diag(P), P = (X'X + reg I)^-1, over the `items` most rated
movies (X: users x items, 1 where rated); its rank-`dim` truncation B ~ (U S) V' gives each
movie a user-side row p_j (of U S) and a movie-side row q_m (of V). A movie outside the items has
zero rows: it is ranked by GraphSAGE's part alone. The channel is appended to the ranking
vectors (y_u' = [y_u, w f_u], y_m' = [y_m, q_m]), so every reader of them (top-K, pair scores,
the numpy readers of the published embeddings) computes the fused score unchanged, and a user
the model never saw gets f_u from the movies they rated, as GraphSAGE's own part does.

The filter is fitted once, after the encoder's epoch is selected, on the train ratings; the
weight w is chosen on validation NDCG@K over a grid (0 is in the grid: the channel is used
only where it helped). A refit on every rating fits the filter again and keeps the evaluated
model's w. docs/results.md has the ablation: GraphSAGE alone, the filter alone, both.

Imports only torch.
"""

from __future__ import annotations

import torch
from torch import nn

from reelgraph.graph.cooccurrence import binary_csr, interaction_gram
from reelgraph.model.tensors import seeded_apart

# w is chosen from these (0: the channel off), by validation NDCG@K of the fused score. The
# GraphSAGE part is a cosine over the temperature (magnitudes of a few units) and the filter's
# scores are EASE's (fractions of one), so the grid spans the scales where they meet.
WEIGHTS = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 24.0)
MIN_RATINGS = 2  # movies with fewer train ratings are outside the filter, as in EASE's baseline
SVD_SEED = 0  # the randomized SVD's start: a run's filter is a function of its data


def select_items(
    movies: torch.Tensor, n_movies: int, max_items: int, min_ratings: int = MIN_RATINGS
) -> torch.Tensor:
    """Sorted indices of the `max_items` most rated movies with at least `min_ratings` ratings
    (ties broken by index, so the choice is repeatable). The item-item baselines choose theirs
    here too."""
    counts = torch.bincount(movies, minlength=n_movies)
    eligible = torch.nonzero(counts >= min_ratings).flatten()
    order = torch.sort(-counts[eligible], stable=True).indices[:max_items]
    return torch.sort(eligible[order]).values


def add_filter_scores(
    out: torch.Tensor, user_rows: torch.Tensor, movie_rows: torch.Tensor, items: torch.Tensor
) -> torch.Tensor:
    """out (users x movies) plus the channel's score <user_rows, movie_rows> of every movie,
    computed over `items` alone: every other movie's row is zero (4,000 filter movies of 59,000
    at 25m, so a fifteenth of the catalogue's product)."""
    return out.index_add_(1, items, user_rows @ movie_rows[items].T)


def ease_weights(gram: torch.Tensor, reg: float) -> torch.Tensor:
    """EASE's item-item matrix B from X'X (float64): zero diagonal, closed form."""
    # X'X + reg I is symmetric positive definite: its Cholesky inverse costs about half of a
    # general inverse (6,000 items: 5 s against 8 s on 2 cores), the same numbers to 1e-16.
    p = torch.cholesky_inverse(
        torch.linalg.cholesky(gram + reg * torch.eye(gram.shape[0], dtype=gram.dtype))
    )
    b = -p / torch.diagonal(p)[None, :]
    b.fill_diagonal_(0.0)
    return b


class ItemFilter(nn.Module):
    """The channel's fitted rows (buffers: saved in the model file) and its weight."""

    def __init__(self, n_movies: int, dim: int, reg: float, max_items: int) -> None:
        super().__init__()
        self.reg, self.max_items = reg, max_items
        self.register_buffer("user_side", torch.zeros(n_movies, dim))
        self.register_buffer("movie_side", torch.zeros(n_movies, dim))
        self.register_buffer("weight", torch.zeros(()))

    @torch.no_grad()
    def fit(self, users: torch.Tensor, movies: torch.Tensor, n_users: int) -> None:
        """Fit the rows on these rated pairs (any rating: watched is what EASE reads)."""
        users, movies = users.cpu().long(), movies.cpu().long()
        n_movies, dim = self.user_side.shape
        items = select_items(movies, n_movies, self.max_items)
        self.user_side.zero_()
        self.movie_side.zero_()
        if items.numel() < 2:
            return
        b = ease_weights(interaction_gram(users, movies, n_users, items, n_movies), self.reg)
        rank = min(dim, items.numel())
        with seeded_apart(SVD_SEED):
            # In float32, as the rows are kept: half the time of float64 (2.5 s at 6,000 items),
            # singular values within 1e-3 of it.
            u, s, v = torch.svd_lowrank(b.float(), q=min(rank + 16, items.numel()), niter=6)
        dev = self.user_side.device
        self.user_side[items.to(dev), :rank] = (u[:, :rank] * s[:rank]).float().to(dev)
        self.movie_side[items.to(dev), :rank] = v[:, :rank].float().to(dev)

    def items(self) -> torch.Tensor:
        """Sorted indices of the movies inside the filter (their movie-side rows not zero)."""
        return torch.nonzero(self.movie_side.abs().sum(dim=1) > 0).flatten()

    def user_vectors(self, users: torch.Tensor, movies: torch.Tensor, n_users: int) -> torch.Tensor:
        """(n_users, dim) f_u: the sum of the user-side rows of the movies each user rated (one
        sparse product: no (pairs x dim) gather, which at 25M ratings would be 20 GB)."""
        rated = binary_csr(
            users.cpu().long(), movies.cpu().long(), n_users, self.user_side.shape[0]
        )
        return rated.to(self.user_side.device) @ self.user_side

    def user_part(self, users: torch.Tensor, movies: torch.Tensor, n_users: int) -> torch.Tensor:
        """(n_users, dim) w f_u: what the channel appends to each user's ranking vector."""
        return self.weight * self.user_vectors(users, movies, n_users)

    def extend(
        self, y_user: torch.Tensor, y_movie: torch.Tensor, users: torch.Tensor, movies: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The ranking vectors with the channel appended (each user's part from the (users,
        movies) pairs they rated): their dot product is the fused score."""
        part = self.user_part(users, movies, y_user.shape[0]).to(y_user.dtype)
        return (
            torch.cat([y_user, part], dim=1),
            torch.cat([y_movie, self.movie_side.to(y_movie.dtype)], dim=1),
        )
