"""Whole-catalogue top-K of any model's scores, batch by batch, a user's own movies never
candidates: what the evaluation, the validation probe, the published lists and every baseline
rank with.

Imports only torch / numpy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Protocol

import numpy as np
import torch

from reelgraph.graph.ratings import UserItems


class Scores(Protocol):
    def score(self, users: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        """(len(users), n_movies) scores, higher is better; written into `out` where it can."""


ScoresOf = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def scores_into(rec: Scores) -> ScoresOf:
    """rec's scores in the caller's buffer (scores_of of top_k_of): a model that writes them
    there saves a fresh batch x catalogue tensor per batch (on 25m that cost the global mean
    3x popularity's whole evaluation); any other's are copied in (masking must not touch a
    model's own tensor, such as popularity's shared row)."""

    def into(users: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        s = rec.score(users, out)
        return s if s.data_ptr() == out.data_ptr() else out.copy_(s)

    return into


@torch.no_grad()
def top_k_of(
    scores_of: ScoresOf,
    n_movies: int,
    device: torch.device,
    users: np.ndarray,
    k: int,
    exclude: UserItems | None,
    largest: bool = True,
    batch_size: int = 4096,
) -> Iterator[tuple[np.ndarray, torch.return_types.topk]]:
    """Whole-catalogue top-k, batch by batch: (user batch, topk of its scores), where
    scores_of(user indices, out buffer) scores every movie. A user's movies in `exclude` (the
    movies they rated) are never candidates; largest=False gives the least relevant. Memory
    stays at one batch_size x n_movies score buffer, reused by every batch (a fresh one per
    batch re-faults ~1 GB of pages on 25m)."""
    k = min(k, n_movies)
    fill = float("-inf") if largest else float("inf")
    buf = None
    for start in range(0, len(users), batch_size):
        batch = np.asarray(users[start : start + batch_size])
        if buf is None:
            buf = torch.empty((len(batch), n_movies), device=device)
        b = torch.as_tensor(batch, device=device, dtype=torch.long)
        scores = scores_of(b, buf[: len(batch)])
        if exclude is not None:
            exclude.mask(scores, batch, fill)
        yield batch, torch.topk(scores, k, dim=1, largest=largest)
