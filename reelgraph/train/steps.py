"""What one optimiser step computes: an epoch's mini-batches, the rating prediction and the
ranking loss of a batch (over the whole message graph, or over sampled neighbourhoods of the
batch's nodes), and the rating metrics of a part.

Imports only torch / numpy.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Protocol

import torch

from reelgraph.evaluate.metrics import rating_metrics
from reelgraph.graph.messages import MessageGraph
from reelgraph.graph.ratings import RatingGraph
from reelgraph.graph.sampling import Block, NeighbourIndex
from reelgraph.model.recommender import GraphSAGERecommender
from reelgraph.train.config import TrainConfig
from reelgraph.train.losses import (
    RankingBatch,
    RankingObjective,
    content_alignment,
    multinomial_loss,
)


def batches(
    n: int, size: int, max_steps: int, gen: torch.Generator
) -> Iterator[torch.Tensor | None]:
    """An epoch's mini-batches: a pass over n items in batches of `size` in random order, or
    `max_steps` batches of them where that is fewer (on 25M ratings a pass would be hundreds
    of steps between two validations). One batch of everything yields None: no permutation."""
    if n == 0:
        return
    if n <= size:
        yield None
        return
    steps = min(max_steps, -(-n // size))
    drawn = min(n, steps * size)
    # A few batches out of many edges (25m: 64 x 8,192 of 20M) need only that many distinct
    # draws, not a permutation of all n (0.7 s an epoch on 2 cores at 20M; this 0.1 s).
    perm = (
        distinct_sample(n, drawn, gen)
        if drawn * SAMPLE_BELOW_SHARE <= n
        else torch.randperm(n, generator=gen, device=gen.device)
    )
    for step in range(steps):
        yield perm[step * size : (step + 1) * size]


# `batches` draws its items without a whole permutation when they are at most this share of n.
SAMPLE_BELOW_SHARE = 16


def distinct_sample(n: int, k: int, gen: torch.Generator) -> torch.Tensor:
    """k distinct indices below n, uniformly at random and in random order, as the first k of
    a random permutation of n are, at the cost of about k draws: draw with replacement a few
    more than k, keep the distinct ones (a uniformly random subset of their number), then a
    random k of those in random order. k at most n / 16 expects about k / 30 repeats, so the
    margin drawn (k / 16) almost always suffices; when it does not, it draws again."""
    if not 0 <= k <= n:
        raise ValueError(f"cannot draw {k} distinct indices below {n}")
    while True:
        draws = torch.randint(n, (k + k // 16 + 64,), generator=gen, device=gen.device)
        distinct = torch.unique(draws)
        if distinct.numel() >= k:
            order = torch.randperm(distinct.numel(), generator=gen, device=gen.device)
            return distinct[order[:k]]


class StepInputs(Protocol):
    """What a step reads of the training (reelgraph.train.loop.Trainer has it)."""

    model: GraphSAGERecommender
    cfg: TrainConfig
    x_user: torch.Tensor
    x_movie: torch.Tensor
    neighbours: NeighbourIndex | None  # None: full-graph steps
    deviation_canonical: torch.Tensor | None  # each train edge's rating - global mean
    objective: RankingObjective
    content: torch.Tensor  # (n_movies, movie_in) the movie features, standardised per column
    rated_movies: torch.Tensor  # movies with train ratings: the full-graph content term's


@dataclasses.dataclass
class Step:
    """What one optimiser step computes, over the epoch's message graph: on the full graph
    (every node encoded each step), or, on a graph with more than `sample_above` train edges,
    over sampled neighbourhoods of the batch's nodes only (reelgraph.graph.sampling)."""

    trainer: StepInputs
    graph: MessageGraph
    keep: torch.Tensor | None

    def _block(self, users: torch.Tensor, movies: torch.Tensor, ids: bool, gen: torch.Generator):  # noqa: ANN202
        t = self.trainer
        return Block.build(
            t.neighbours,
            torch.unique(users),
            torch.unique(movies),
            t.cfg.fanouts,
            self.keep,
            gen,
            ids,
            t.deviation_canonical,
        )

    def predict_ratings(
        self, users: torch.Tensor, movies: torch.Tensor, gen: torch.Generator
    ) -> torch.Tensor:
        """(rating members, pairs): each member's unclamped predicted stars."""
        t, model = self.trainer, self.trainer.model
        if t.neighbours is None:
            return model.member_predictions(t.x_user, t.x_movie, self.graph, users, movies)
        block = self._block(users, movies, model.rating.has_ids, gen)
        u, m = local(block.users, users), local(block.movies, movies)
        return model.member_predictions(t.x_user, t.x_movie, self.graph, u, m, block)

    def ranking_loss(self, batch: RankingBatch, gen: torch.Generator) -> torch.Tensor:
        t, model = self.trainer, self.trainer.model
        cand = t.objective.candidates(batch, gen)
        if t.neighbours is None:
            y_u, y_m, c_m, _ = model.encode_ranking(t.x_user, t.x_movie, self.graph)
            u, pos, cm = batch.users, batch.movies, cand.movies
            encoded = t.rated_movies
        else:
            movies = torch.cat([batch.movies, cand.movies.reshape(-1)])
            block = self._block(batch.users, movies, model.ranking.has_ids, gen)
            y_u, y_m, c_m = model.encode_ranking_block(t.x_user, t.x_movie, self.graph, block)
            u, pos = local(block.users, batch.users), local(block.movies, batch.movies)
            cm = local(block.movies, cand.movies)
            encoded = block.movies
        y_u, y_m, c_m = y_u.float(), y_m.float(), c_m.float()
        loss = t.objective.loss(
            y_u.index_select(0, u),
            y_m.index_select(0, pos),
            c_m.index_select(0, pos),
            y_m[cm],
            c_m[cm],
            batch,
            cand,
        )
        rows = encoded if t.neighbours is None else None  # a block's movies are its rows
        return loss + self._content_term(y_m if rows is None else y_m[rows], encoded)

    def user_list_loss(
        self, users: torch.Tensor, rows: torch.Tensor, movies: torch.Tensor, gen: torch.Generator
    ) -> torch.Tensor:
        """The multinomial loss of a batch of users (reelgraph.train.losses): `movies` their
        positives, `rows` each positive's user as a position in `users`. Over the whole catalogue
        on the full graph; over a sampled catalogue on sampled neighbourhoods."""
        t, model = self.trainer, self.trainer.model
        if t.neighbours is None:
            y_u, y_m, c_m, _ = model.encode_ranking(t.x_user, t.x_movie, self.graph)
            y_u, y_m, c_m = y_u.float(), y_m.float(), c_m.float()
            loss = multinomial_loss(y_u.index_select(0, users), y_m, c_m, rows, movies)
            return loss + self._content_term(y_m[t.rated_movies], t.rated_movies)
        cand = t.objective.multinomial_candidates(movies, gen)
        block = self._block(users, cand.movies, model.ranking.has_ids, gen)
        y_u, y_m, c_m = model.encode_ranking_block(t.x_user, t.x_movie, self.graph, block)
        y_u, y_m, c_m = y_u.float(), y_m.float(), c_m.float()
        # The block's seeds are the sorted unique users and movies: here exactly the batch's
        # users and the candidates.
        u, cm = local(block.users, users), local(block.movies, cand.movies)
        cols = local(cand.movies, movies)
        loss = multinomial_loss(
            y_u.index_select(0, u),
            y_m.index_select(0, cm),
            c_m.index_select(0, cm),
            rows,
            cols,
            cand.log_q,
        )
        return loss + self._content_term(y_m, block.movies)

    def _content_term(self, movie_vec: torch.Tensor, movies: torch.Tensor) -> torch.Tensor | float:
        """rank_content_weight x the content alignment of these movies' outputs (rows of
        movie_vec, in the order of `movies`); 0 with the weight 0."""
        t, head = self.trainer, self.trainer.model.ranking.content_head
        weight = t.cfg.rank_content_weight
        if not weight or head is None or movies.numel() == 0:
            return 0.0
        projected = head(t.content.index_select(0, movies)).float()
        return weight * content_alignment(movie_vec, projected)


def local(seeds: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """Positions of ids in the sorted unique seed list."""
    return torch.searchsorted(seeds, ids)


@dataclasses.dataclass
class RatingView:
    """The rating half of Encoded, which is all predict() reads."""

    z_user: torch.Tensor
    b_user: torch.Tensor
    z_movie: torch.Tensor
    b_movie: torch.Tensor


@torch.no_grad()
def rating_metrics_of(model, enc, users, movies, ratings) -> dict[str, float]:  # noqa: ANN001
    pred = model.clamp(model.predict(enc, users, movies).float())
    return rating_metrics(pred.cpu().numpy(), ratings.cpu().numpy())


@torch.no_grad()
def part_metrics(
    model: GraphSAGERecommender,
    graph: RatingGraph,
    x_user: torch.Tensor,
    x_movie: torch.Tensor,
    full_graph: MessageGraph,
) -> dict[str, dict[str, float]]:
    """Rating metrics of the selected model on each part of the split (empty parts: {})."""
    model.eval()
    z_u, b_u, z_m, b_m, _ = model.encode_rating(x_user, x_movie, full_graph)
    enc = RatingView(z_u, b_u, z_m, b_m)
    device = x_user.device
    metrics = {}
    for part in ("train", "val", "test"):
        u, m, r = (t.to(device) for t in graph.part(part))
        metrics[part] = rating_metrics_of(model, enc, u, m, r) if u.numel() else {}
    return metrics
