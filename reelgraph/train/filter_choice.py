"""The end of a training, for the ranking output's list: its item-filter channel (reelgraph.
model.item_filter), fitted on the train ratings and weighed, then the popularity penalty of its
bias (GraphSAGERecommender.popularity_penalty). Each is chosen on validation NDCG@K of the list
as served (the same probe that selected the encoder's epoch), or is the one the settings give
(a refit keeps the evaluated model's).

Imports only torch.
"""

from __future__ import annotations

import functools

import torch

from reelgraph.model.item_filter import WEIGHTS, add_filter_scores
from reelgraph.model.top_k import ScoresOf

# The popularity penalty is chosen from these (0: none) ...
PENALTIES = (0.0, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0)
# ... as the largest whose validation NDCG is within this share of the best one: validation
# cannot tell apart settings closer than that, and of those the list that leans least on
# popularity shows people more of the catalogue.
PENALTY_TOLERANCE = 0.005


class _ListParts:
    """What both choices score with, computed once, on first use: GraphSAGE's ranking vectors
    and bias as the trained model encodes them (one full-graph pass), and the filter's user
    rows f_u (one sparse product over the train ratings)."""

    def __init__(self, trainer) -> None:  # noqa: ANN001 - reelgraph.train.finish.Finishing
        self.trainer = trainer

    @functools.cached_property
    def encoded(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        t = self.trainer
        t.model.eval()
        with t.autocast():
            y_u, y_m, c_m, _ = t.model.encode_ranking(t.x_user, t.x_movie, t.full_graph)
        return y_u.float(), y_m.float(), c_m.float()

    @functools.cached_property
    def filter_rows(self) -> torch.Tensor:
        users, movies, _ = self.trainer.graph.part("train")
        return self.trainer.model.item_filter.user_vectors(
            users, movies, self.trainer.graph.n_users
        )

    @functools.cached_property
    def filter_items(self) -> torch.Tensor:
        """The movies inside the filter (its fit is done before either choice is scored)."""
        return self.trainer.model.item_filter.items()

    def add_filter_scores(self, user_rows: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """out plus the filter's score of user_rows against every movie, computed over the
        filter's movies alone (item_filter.add_filter_scores)."""
        channel = self.trainer.model.item_filter
        return add_filter_scores(out, user_rows, channel.movie_side, self.filter_items)

    def curve(self, grid: tuple[float, ...], base: ScoresOf, step: ScoresOf) -> dict:
        """Validation NDCG@K of the list scored by base + value x step, for each value of grid."""
        t = self.trainer
        return t.probe.ndcg_along(base, step, grid, t.graph.n_movies, t.device)


@torch.no_grad()
def choose_list_settings(trainer) -> tuple[dict, dict]:  # noqa: ANN001 - finish.Finishing
    """The channel fitted and weighed, then the bias's penalty (on the list as served at that
    weight); what was chosen of each, for TrainResult.item_filter and .popularity_penalty."""
    parts = _ListParts(trainer)
    return fit_item_filter(trainer, parts), choose_popularity_penalty(trainer, parts)


def _chooses(trainer) -> bool:  # noqa: ANN001
    """Whether this training chooses on validation (a refit keeps what it was given)."""
    return trainer.fixed is None and trainer.probe is not None


def fit_item_filter(trainer, parts: _ListParts) -> dict:  # noqa: ANN001
    """Fit and weigh the trainer's model's channel ({} when the model has none)."""
    model, graph, cfg = trainer.model, trainer.graph, trainer.cfg
    channel = model.item_filter
    if channel is None:
        return {}
    users, movies, _ = graph.part("train")
    channel.fit(users, movies, graph.n_users)
    if cfg.rank_filter_weight is not None:
        channel.weight.fill_(cfg.rank_filter_weight)
        return {"weight": cfg.rank_filter_weight}
    if not _chooses(trainer):
        return {"weight": float(channel.weight)}
    y_u, y_m, c_m = parts.encoded
    f = parts.filter_rows
    # The fused score [y_u, w f_u] . [y_m, q_m] + c_m is GraphSAGE's part plus w x the filter's.
    curve = parts.curve(
        WEIGHTS,
        lambda b, out: torch.addmm(c_m[None, :], y_u[b], y_m.T, out=out),
        lambda b, out: parts.add_filter_scores(f[b], out.zero_()),
    )
    best = max(WEIGHTS, key=lambda w: (curve[w], -w))  # a tie goes to the smaller weight
    channel.weight.fill_(best)
    # The ablation beside the choice: the filter alone (weight 0 is GraphSAGE's part alone).
    alone = trainer.probe.ndcg(
        lambda b, out: parts.add_filter_scores(f[b], out.zero_()),
        graph.n_movies,
        trainer.device,
    )
    return {
        "weight": best,
        "val_ndcg": {str(w): round(v, 6) for w, v in curve.items()},
        "val_ndcg_filter_alone": round(alone, 6),
    }


def choose_popularity_penalty(trainer, parts: _ListParts) -> dict:  # noqa: ANN001
    """Set the model's popularity penalty ({} without a ranking encoder)."""
    model, cfg = trainer.model, trainer.cfg
    if model.ranking is None:
        return {}
    if cfg.rank_popularity_penalty is not None:
        model.popularity_penalty.fill_(cfg.rank_popularity_penalty)
        return {"penalty": cfg.rank_popularity_penalty}
    if not _chooses(trainer):
        return {"penalty": float(model.popularity_penalty)}
    y_u, y_m, c_m = parts.encoded
    channel = model.item_filter
    log_degree = torch.log1p(trainer.full_graph.relations.deg_movie)
    # c_m was encoded with the penalty the model had then (0 after training): without it.
    bias = c_m + model.popularity_penalty * log_degree

    def served(b: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """The list's score as served (the fused one at the weight just chosen), no penalty."""
        s = torch.addmm(bias[None, :], y_u[b], y_m.T, out=out)
        return (
            s
            if channel is None
            else parts.add_filter_scores(channel.weight * parts.filter_rows[b], s)
        )

    curve = parts.curve(
        PENALTIES, served, lambda b, out: out.copy_(-log_degree.expand(b.numel(), -1))
    )
    best = max(curve.values())
    chosen = max(p for p in PENALTIES if curve[p] >= (1 - PENALTY_TOLERANCE) * best)
    model.popularity_penalty.fill_(chosen)
    return {"penalty": chosen, "val_ndcg": {str(p): round(v, 6) for p, v in curve.items()}}
