"""Scoring with a trained model: encode once, then full-catalogue top-K in batches, pair
predictions, and inductive scoring of users the model never saw.

Imports only torch / torch_geometric / numpy.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from reelgraph.core.errors import ReelgraphError
from reelgraph.graph.ratings import RatingGraph, UserItems
from reelgraph.graph.sparse import BipartiteAdjacency, ColumnBlocks, Relations
from reelgraph.model import decoder
from reelgraph.model.recommender import Encoded, GraphSAGERecommender, MessageGraph, message_graph
from reelgraph.model.saved import load_model, select_device
from reelgraph.model.top_k import top_k_of


class ScoringError(ReelgraphError):
    pass


@dataclasses.dataclass
class TopK:
    users: np.ndarray  # (b,)
    movies: np.ndarray  # (b, k) movie indices, best first (worst first for least relevant)
    scores: np.ndarray  # (b, k) ranking scores
    ratings: np.ndarray  # (b, k) predicted ratings in stars


@dataclasses.dataclass
class NewUserScores:
    scores: np.ndarray  # (n_movies,) ranking scores
    ratings: np.ndarray  # (n_movies,) predicted ratings in stars


@dataclasses.dataclass
class Scorer:
    """A trained model with its graph, encoded once over every train edge."""

    model: GraphSAGERecommender
    graph: RatingGraph
    enc: Encoded
    device: torch.device
    train: UserItems  # each user's train movies (what the model saw)
    rated: UserItems  # each user's movies in any part of the graph: never in their lists
    movie_degree: torch.Tensor  # train ratings per movie (normalises a new user's messages)

    @staticmethod
    def load(model_path: str | Path, graph: RatingGraph, device: str = "auto") -> Scorer:
        dev = select_device(device)
        model, _ = load_model(model_path, dev)
        return Scorer.from_model(model, graph, dev)

    @staticmethod
    @torch.no_grad()
    def from_model(model: GraphSAGERecommender, graph: RatingGraph, device: torch.device) -> Scorer:
        model.eval()
        u, m, r = (t.to(device) for t in graph.part("train"))
        adj = BipartiteAdjacency.build(u, m, graph.n_users, graph.n_movies)
        dev = (adj.canonical(r) - model.cfg.global_mean) if model.needs_rating_messages else None
        full = message_graph(adj, None, dev, reuse_inputs=True)  # both encoders reuse its inputs
        enc = model.encode(
            graph.x_user.to(device), graph.x_movie.to(device), full, keep_movie_states=True
        )
        # The fused ranking score; the graph's own order of the pairs (by user, then movie) lets
        # the filter's sparse rows skip a sort of every train rating.
        enc = model.with_item_filter(enc, u, m)
        return Scorer(
            model,
            graph,
            enc,
            device,
            graph.user_items(("train",)),
            graph.user_items(),  # every movie the user rated: never published
            full.relations.deg_movie,
        )

    @torch.no_grad()
    def predict(self, user_idx: np.ndarray, movie_idx: np.ndarray) -> np.ndarray:
        """Predicted ratings in stars, clamped to [0.5, 5]."""
        u = torch.as_tensor(user_idx, device=self.device, dtype=torch.long)
        m = torch.as_tensor(movie_idx, device=self.device, dtype=torch.long)
        return self.model.clamp(self.model.predict(self.enc, u, m)).cpu().numpy()

    def train_items(self, user: int) -> np.ndarray:
        return self.train.of(user)

    @torch.no_grad()
    def top_k(
        self, users: np.ndarray, k: int, least: bool = False, batch_size: int = 4096
    ) -> Iterator[TopK]:
        """Each user's K most relevant movies by ranking score, or (least=True) the K they are
        predicted to like least (lowest predicted rating: a movie ranked low is one they would
        not pick, which may be a film they would rate well), batch by batch, with both figures
        of each. Memory stays at batch_size x n_movies whatever the number of users. A movie
        the user rated (in any part of the graph) is never in either list."""
        model, enc = self.model, self.enc
        scores_of = (
            (lambda b, out: model.score_all(enc, b, out))
            if least
            else (lambda b, out: model.rank_all(enc, b, out))
        )
        for batch, top in top_k_of(
            scores_of,
            self.graph.n_movies,
            self.device,
            users,
            k,
            self.rated,
            largest=not least,
            batch_size=batch_size,
        ):
            b = torch.as_tensor(batch, device=self.device, dtype=torch.long)
            movies = top.indices
            pairs = (b.repeat_interleave(movies.shape[1]), movies.reshape(-1))
            rank = model.rank_pairs(enc, *pairs).reshape(movies.shape)
            rating = model.clamp(model.predict(enc, *pairs)).reshape(movies.shape)
            yield TopK(
                batch,
                movies.cpu().numpy(),
                rank.float().cpu().numpy(),
                rating.float().cpu().numpy(),
            )

    @torch.no_grad()
    def score_new_user(
        self, movie_idx: np.ndarray, ratings: np.ndarray, user_features: np.ndarray | None = None
    ) -> NewUserScores:
        """Inductive scoring: ranking scores and predicted ratings of every movie for a user the model never saw,
        from the movies they rated (and optional user features; zeros mean "an average user").
        No retraining: the trained movie states of each layer are read as they are."""
        movie_idx = np.asarray(movie_idx, dtype=np.int64)
        ratings = np.asarray(ratings, dtype=np.float32)
        if movie_idx.size == 0:
            raise ScoringError("a new user needs at least one rating to be scored")
        if movie_idx.min() < 0 or movie_idx.max() >= self.graph.n_movies:
            raise ScoringError(f"movie index out of range 0..{self.graph.n_movies - 1}")
        if ratings.shape != movie_idx.shape:
            raise ScoringError("movie_idx and ratings must have the same length")
        x = (
            np.zeros((1, self.graph.x_user.shape[1]), np.float32)
            if user_features is None
            else np.asarray(user_features, np.float32).reshape(1, -1)
        )
        n = movie_idx.size
        ones = torch.ones(n, device=self.device)
        dev_w = torch.as_tensor(ratings - self.model.cfg.global_mean, device=self.device)
        crow = torch.tensor([0, n], device=self.device)
        col = torch.as_tensor(movie_idx, device=self.device)
        shape = (1, self.graph.n_movies)

        def to_user(w: torch.Tensor) -> ColumnBlocks:  # no backward here: no transpose needed
            return ColumnBlocks.of(
                torch.sparse_csr_tensor(crow, col, w, shape, check_invariants=False)
            )

        relations = [(None, to_user(ones))]
        if self.model.needs_rating_messages:
            relations.append((None, to_user(dev_w)))
        degree = torch.full((1,), float(n), device=self.device)
        graph = MessageGraph(Relations(tuple(relations), degree, self.movie_degree))
        z, b, y = self.model.encode_new_users(
            torch.as_tensor(x, device=self.device), graph, self.enc
        )
        if self.model.item_filter is not None:  # the channel's part, from the movies they rated
            y = torch.cat([y, self.model.item_filter.user_part(torch.zeros_like(col), col, 1)], 1)
        enc = self.enc
        ratings = decoder.rating_scores(z, b, enc.z_movie, enc.b_movie, self.model.cfg.global_mean)
        rank = (
            decoder.ranking_scores(y, enc.y_movie, enc.c_movie)
            if self.model.cfg.rank_head
            else ratings
        )
        return NewUserScores(rank[0].cpu().numpy(), self.model.clamp(ratings[0]).cpu().numpy())
