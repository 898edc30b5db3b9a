"""RatingBasis: the rating encoder's fixed movie inputs beside the features (ModelConfig.
rating_basis_dim): each movie's row of the top singular vectors of the normalised train
interactions (who rated what, not the stars; reelgraph.graph.spectral), set once before the first
epoch. Which movies the same people watch says much about how they will rate them, and a fixed
basis carries that without the id embeddings that memorise train ratings.

Imports only torch.
"""

from __future__ import annotations

import torch
from torch import nn

from reelgraph.graph.spectral import spectral_basis
from reelgraph.model.tensors import padded_rows


class RatingBasis(nn.Module):
    """The basis rows as a buffer (weights of the model: scoring and a warm-started refit read
    the training's own), and the rating encoder's movie inputs with them appended."""

    def __init__(self, n_movies: int, dim: int) -> None:
        super().__init__()
        # Not in the state dict without dims: model files from before the basis load as they are.
        self.register_buffer("rows", torch.zeros(n_movies, dim), persistent=dim > 0)
        self._kept: tuple | None = None  # (x_movie, rows, their version, the inputs)

    @torch.no_grad()
    def start(self, users: torch.Tensor, movies: torch.Tensor, n_users: int) -> None:
        """The movies' rows of the spectral basis of these (user, movie) pairs, scaled so the
        entries of both sides' rows have a standard deviation of 1 (users read their movies'
        rows through the messages). Movies without pairs keep zero rows."""
        n_movies, dim = self.rows.shape
        if dim == 0:
            return
        user_rows, movie_rows = spectral_basis(users, movies, n_users, n_movies, dim)
        scale = float(torch.cat([user_rows, movie_rows]).std().clamp(min=1e-12))
        self.rows.copy_(movie_rows.to(self.rows) / scale)

    def inputs(self, x_movie: torch.Tensor) -> torch.Tensor:
        """The features, then the basis rows (zero rows for movies added after training). The
        same tensor while x_movie and the rows are, so a message graph keeps its aggregates of
        them between passes (MessageGraph.input_aggregates)."""
        rows = self.rows
        if rows.shape[1] == 0:
            return x_movie
        kept = self._kept
        if (
            kept is None
            or kept[0] is not x_movie
            or kept[1] is not rows
            or kept[2] != rows._version
        ):
            own = padded_rows(rows, x_movie.shape[0]).to(x_movie.dtype)
            kept = (x_movie, rows, rows._version, torch.cat([x_movie, own], 1))
            self._kept = kept
        return kept[3]
