"""NDCG@K on a fixed sample of validation users, as `evaluate` computes it: cheap enough to pick
each epoch of GraphSAGE and the iteratively trained baselines.

Imports only torch / numpy.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from reelgraph.core.conventions import RELEVANT_RATING
from reelgraph.evaluate.protocol import Relevance, hits_matrix, ranking_at_k
from reelgraph.graph.ratings import RatingGraph, UserItems
from reelgraph.model.top_k import ScoresOf, top_k_of


@dataclasses.dataclass
class ValidationProbe:
    """NDCG@K over the whole catalogue as `evaluate` computes it (the user's train movies
    excluded, relevant = held-out rating >= threshold), on a fixed seeded sample of users of
    one held-out part: cheap enough to select a model's epoch (GraphSAGE's ranking output and
    every iteratively trained baseline alike) on validation after every epoch."""

    users: np.ndarray
    relevant: Relevance
    train: UserItems
    k: int
    batch_size: int = 1024

    @staticmethod
    def build(
        graph: RatingGraph,
        k: int = 20,
        threshold: float = RELEVANT_RATING,
        max_users: int = 4096,
        seed: int = 0,
        part: str = "val",
    ) -> ValidationProbe | None:
        vu, vm, vr = (t.numpy() for t in graph.part(part))
        relevant = Relevance.from_edges(vu, vm, vr, graph.n_users, threshold)
        users = np.flatnonzero(relevant.count(np.arange(graph.n_users)) > 0)
        if users.size == 0:
            return None
        if users.size > max_users:
            users = np.sort(np.random.default_rng(seed).choice(users, max_users, replace=False))
        return ValidationProbe(
            users, relevant, graph.user_items(("train",)), min(k, graph.n_movies)
        )

    @torch.no_grad()
    def ndcg(self, scores_of: ScoresOf, n_movies: int, device: torch.device | str = "cpu") -> float:
        total = 0.0
        for batch, top in top_k_of(
            scores_of,
            n_movies,
            torch.device(device),
            self.users,
            self.k,
            self.train,
            batch_size=self.batch_size,
        ):
            hits = hits_matrix(top.indices.cpu().numpy(), batch, self.relevant)
            total += float(ranking_at_k(hits, self.relevant.count(batch), self.k)["ndcg"].sum())
        return total / self.users.size
