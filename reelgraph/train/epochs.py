"""One epoch of each output's optimiser steps: the rating encoder's MSE over batches of
supervision edges, and the ranking encoder's loss over batches of positives (softmax, BPR) or
of users with all their positives (multinomial; reelgraph.train.losses).

Imports only torch.
"""

from __future__ import annotations

import contextlib
import math
from typing import Protocol

import torch

from reelgraph.graph.ratings import RatingGraph
from reelgraph.graph.sampling import NeighbourIndex
from reelgraph.train.config import TrainConfig
from reelgraph.train.distributed import Ranks
from reelgraph.train.losses import RankingBatch, UserLists
from reelgraph.train.steps import Step, batches

# Logits a multinomial step may hold (users x candidates, float32: 128 MB): a batch of users
# over a large catalogue is cut to fit.
LOGITS_PER_STEP = 1 << 25


class EpochInputs(Protocol):
    """What an epoch reads of the training (reelgraph.train.loop.Trainer has it)."""

    cfg: TrainConfig
    ranks: Ranks
    graph: RatingGraph
    neighbours: NeighbourIndex | None  # None: full-graph steps
    draws: torch.Generator  # what this process's steps sample
    opt_rating: torch.optim.Optimizer
    opt_ranking: torch.optim.Optimizer | None

    def autocast(self) -> contextlib.AbstractContextManager: ...

    def optimiser_step(
        self, opt: torch.optim.Optimizer, loss: torch.Tensor, epoch: int, name: str
    ) -> None: ...


def rating_epoch(
    t: EpochInputs,
    step: Step,
    users: torch.Tensor,
    movies: torch.Tensor,
    ratings: torch.Tensor,
    gen: torch.Generator,
    epoch: int,
) -> dict:
    """MSE in stars over batches of `rating_batch_size` supervision edges, each rating
    member's own (ModelConfig.rating_members; train_rmse: of their average)."""
    total, sq_err, seen = 0.0, 0.0, 0
    for idx in batches(users.numel(), t.cfg.rating_batch_size, t.cfg.rating_max_steps, gen):
        u, m, r = (
            (users, movies, ratings) if idx is None else (users[idx], movies[idx], ratings[idx])
        )
        if r.numel() < t.ranks.world:  # too few to give every rank a part
            continue
        u, m, r = t.ranks.part(u, m, r)
        with t.autocast():
            pred = step.predict_ratings(u, m, t.draws).float()
            loss = torch.mean((pred - r) ** 2)
        t.optimiser_step(t.opt_rating, loss, epoch, "rating")
        total += float(loss.detach()) * r.numel()
        sq_err += float(((pred.detach().mean(0) - r) ** 2).sum())
        seen += r.numel()
    n = max(seen, 1)
    return {"train_loss": total / n, "train_rmse": math.sqrt(sq_err / n)}


def pair_epoch(
    t: EpochInputs,
    step: Step,
    users: torch.Tensor,
    movies: torch.Tensor,
    gen: torch.Generator,
    epoch: int,
) -> dict:
    """The softmax or BPR loss over batches of `rank_batch_size` positives."""
    cfg = t.cfg
    total, seen, steps = 0.0, 0, 0
    for idx in batches(users.numel(), cfg.rank_batch_size, cfg.rank_max_steps, gen):
        u, m = (users, movies) if idx is None else (users[idx], movies[idx])
        if u.numel() < t.ranks.world:
            continue
        batch = RankingBatch(*t.ranks.part(u, m))
        with t.autocast():
            loss = step.ranking_loss(batch, t.draws)
        t.optimiser_step(t.opt_ranking, loss, epoch, "ranking")
        total += float(loss.detach()) * batch.users.numel()
        seen += batch.users.numel()
        steps += 1
    return {"rank_loss": total / seen, "rank_steps": steps} if seen else {}


def user_list_epoch(
    t: EpochInputs, step: Step, lists: UserLists, gen: torch.Generator, epoch: int
) -> dict:
    """The multinomial loss over batches of `rank_batch_users` users and all their positives:
    a pass over the users with positives, or `rank_max_user_steps` batches where that is fewer."""
    cfg = t.cfg
    total, seen, steps = 0.0, 0, 0
    per_step = users_per_step(cfg.rank_batch_users, catalogue_width(t))
    for idx in batches(lists.active.numel(), per_step, cfg.rank_max_user_steps, gen):
        users = lists.active if idx is None else lists.active[idx]
        if users.numel() < t.ranks.world:
            continue
        (users,) = t.ranks.part(users)
        rows, movies = lists.positives(users)
        with t.autocast():
            loss = step.user_list_loss(users, rows, movies, t.draws)
        t.optimiser_step(t.opt_ranking, loss, epoch, "ranking")
        total += float(loss.detach()) * rows.numel()
        seen += rows.numel()
        steps += 1
    return {"rank_loss": total / seen, "rank_steps": steps} if seen else {}


def catalogue_width(t: EpochInputs) -> int:
    """Candidates per user in a multinomial step: the catalogue on the full graph, else about
    the sampled negatives plus a batch's positive movies (bounded by the catalogue)."""
    if t.neighbours is None:
        return t.graph.n_movies
    return min(t.graph.n_movies, 2 * t.cfg.rank_negatives)


def users_per_step(batch_users: int, candidates: int) -> int:
    return max(1, min(batch_users, LOGITS_PER_STEP // max(candidates, 1)))
