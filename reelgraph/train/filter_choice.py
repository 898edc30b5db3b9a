"""The end of a training, for the ranking output's list: its item-filter channel (reelgraph.
model.item_filter), fitted on the train ratings and weighed, then the popularity penalty of its
bias (GraphSAGERecommender.popularity_penalty). Each is chosen on validation NDCG@K of the list
as served (the same probe that selected the encoder's epoch), or is the one the settings give
(a refit keeps the evaluated model's).

Imports only torch.
"""

from __future__ import annotations

import torch

from reelgraph.model.item_filter import WEIGHTS

# The popularity penalty is chosen from these (0: none) ...
PENALTIES = (0.0, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0)
# ... as the largest whose validation NDCG is within this share of the best one: validation
# cannot tell apart settings closer than that, and of those the list that leans least on
# popularity shows people more of the catalogue.
PENALTY_TOLERANCE = 0.005


@torch.no_grad()
def fit_item_filter(trainer) -> dict:  # noqa: ANN001 - reelgraph.train.finish.Finishing
    """Fit and weigh the trainer's model's channel; what was chosen, for TrainResult.item_filter
    ({} when the model has no channel)."""
    model, graph, cfg = trainer.model, trainer.graph, trainer.cfg
    channel = model.item_filter
    if channel is None:
        return {}
    users, movies, _ = graph.part("train")
    channel.fit(users, movies, graph.n_users)
    if cfg.rank_filter_weight is not None:
        channel.weight.fill_(cfg.rank_filter_weight)
        return {"weight": cfg.rank_filter_weight}
    if trainer.fixed is not None or trainer.probe is None:  # no validation: the weight it has
        return {"weight": float(channel.weight)}
    model.eval()
    with trainer.autocast():
        y_u, y_m, c_m, _ = model.encode_ranking(trainer.x_user, trainer.x_movie, trainer.full_graph)
    y_u, y_m, c_m = y_u.float(), y_m.float(), c_m.float()
    f = channel.user_vectors(users, movies, graph.n_users)
    y_movie = torch.cat([y_m, channel.movie_side], dim=1)
    curve = {}
    for w in WEIGHTS:
        y_user = torch.cat([y_u, w * f], dim=1)
        curve[w] = trainer.probe.ndcg(
            lambda b, out, y_user=y_user: torch.addmm(c_m[None, :], y_user[b], y_movie.T, out=out),
            graph.n_movies,
            trainer.device,
        )
    best = max(WEIGHTS, key=lambda w: (curve[w], -w))  # a tie goes to the smaller weight
    channel.weight.fill_(best)
    # The ablation beside the choice: the filter alone (weight 0 is GraphSAGE's part alone).
    alone = trainer.probe.ndcg(
        lambda b, out: torch.mm(f[b], channel.movie_side.T, out=out), graph.n_movies, trainer.device
    )
    return {
        "weight": best,
        "val_ndcg": {str(w): round(v, 6) for w, v in curve.items()},
        "val_ndcg_filter_alone": round(alone, 6),
    }


@torch.no_grad()
def choose_popularity_penalty(trainer) -> dict:  # noqa: ANN001 - reelgraph.train.finish.Finishing
    """Set the model's popularity penalty (after the item filter is weighed: the list as
    served); what was chosen, for TrainResult.popularity_penalty ({} without a ranking encoder)."""
    model, graph, cfg = trainer.model, trainer.graph, trainer.cfg
    if model.ranking is None:
        return {}
    if cfg.rank_popularity_penalty is not None:
        model.popularity_penalty.fill_(cfg.rank_popularity_penalty)
        return {"penalty": cfg.rank_popularity_penalty}
    if trainer.fixed is not None or trainer.probe is None:  # no validation: the penalty it has
        return {"penalty": float(model.popularity_penalty)}
    model.eval()
    with trainer.autocast():
        y_u, y_m, c_m, _ = model.encode_ranking(trainer.x_user, trainer.x_movie, trainer.full_graph)
    y_u, y_m = y_u.float(), y_m.float()
    if model.item_filter is not None:  # the fused score, at the weight just chosen
        users, movies, _ = graph.part("train")
        y_u, y_m = model.item_filter.extend(y_u, y_m, users, movies)
    log_degree = torch.log1p(trainer.full_graph.relations.deg_movie)
    # c_m was encoded with the penalty the model has now (0 after training): without it.
    bias = c_m.float() + model.popularity_penalty * log_degree
    curve = {}
    for p in PENALTIES:
        c = bias - p * log_degree
        curve[p] = trainer.probe.ndcg(
            lambda b, out, c=c: torch.addmm(c[None, :], y_u[b], y_m.T, out=out),
            graph.n_movies,
            trainer.device,
        )
    best = max(curve.values())
    chosen = max(p for p in PENALTIES if curve[p] >= (1 - PENALTY_TOLERANCE) * best)
    model.popularity_penalty.fill_(chosen)
    return {"penalty": chosen, "val_ndcg": {str(p): round(v, 6) for p, v in curve.items()}}
