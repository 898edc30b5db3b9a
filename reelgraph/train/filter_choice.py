"""The end of a training, for the ranking output's item-filter channel (reelgraph.model.
item_filter): fit it on the train ratings, then weigh it: the weight chosen on validation
NDCG@K of the fused score (the same probe that selected the encoder's epoch), or the one the
settings give (a refit keeps the evaluated model's).

Imports only torch.
"""

from __future__ import annotations

import torch

from reelgraph.model.item_filter import WEIGHTS


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
