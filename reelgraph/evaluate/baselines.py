"""Baselines trained on the same split and scored by the same evaluation code as GraphSAGE.

Rating models: global_mean, bias (regularised user + item biases), mf (biased matrix
factorisation, torch). Ranking models: popularity; the closed-form item-item models ease,
rp3beta and gf_cf (on the items with enough train ratings); lightgcn
(torch_geometric.nn.LightGCN, BPR loss), bpr_mf (matrix factorisation trained with BPR) and
ials (implicit ALS, the `implicit` package). Each knows how to `score` all
movies for a batch of users; the rating models also `predict` stars. The iteratively trained
ranking models keep their epoch with the best validation NDCG@20, as GraphSAGE's ranking output
does; `reelgraph tune` chooses every ranking model's settings on validation with one budget.

The models: rating_baselines.py, item_filters.py and ranking_baselines.py; this module is their
registry.
Imports only torch / torch_geometric / numpy (ials also `implicit` and scipy, when it is fitted).
"""

from __future__ import annotations

import dataclasses
import logging

import torch

from reelgraph.core.memory import keep_freed_memory
from reelgraph.evaluate.item_filters import (
    EASE,
    GFCF,
    EASEConfig,
    GFCFConfig,
    RP3beta,
    RP3betaConfig,
)
from reelgraph.evaluate.ranking_baselines import (
    BPRMF,
    IALS,
    BPRMFConfig,
    IALSConfig,
    LightGCNBaseline,
    LightGCNConfig,
)
from reelgraph.evaluate.rating_baselines import MF, Bias, GlobalMean, MFConfig, Popularity
from reelgraph.graph.ratings import RatingGraph

log = logging.getLogger(__name__)


class GraphSAGEAdapter:
    """The trained GraphSAGE behind the same interface as the baselines."""

    name = "graphsage"

    def __init__(self, scorer) -> None:  # noqa: ANN001 - reelgraph.model.scoring.Scorer
        self.scorer = scorer

    @torch.no_grad()
    def score(self, users: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        s = self.scorer
        if out is not None and out.device == s.device:
            return s.model.rank_all(s.enc, users.to(s.device), out)
        return s.model.rank_all(s.enc, users.to(s.device)).float().cpu()

    @torch.no_grad()
    def predict(self, users: torch.Tensor, movies: torch.Tensor) -> torch.Tensor:
        s = self.scorer
        return (
            s.model.clamp(s.model.predict(s.enc, users.to(s.device), movies.to(s.device)))
            .float()
            .cpu()
        )


# Baselines a run leaves out by default above this many train ratings (naming them in
# --baselines runs them anyway): LightGCN propagates over the whole graph at every step (on 25M
# ratings on 2 cores, hours per fit); BPR-MF's dense Adam steps over 225k embedding rows take
# ~20 s per epoch there, tens of epochs before validation stops it. RP3beta's and GF-CF's item
# matrices fit (6,000 movies: 144 MB each), but each scores every user against it as EASE does
# (3-4 min at 25m on 2 cores), which a 25m run's time cannot carry beside EASE.
MAX_TRAIN_RATINGS = {
    "lightgcn": 5_000_000,
    "bpr_mf": 5_000_000,
    "rp3beta": 5_000_000,
    "gf_cf": 5_000_000,
}

# name -> (class, its settings): every setting a baseline has can be tuned or passed in a config.
BASELINES: dict[str, tuple[type, type | None]] = {
    "global_mean": (GlobalMean, None),
    "bias": (Bias, None),
    "popularity": (Popularity, None),
    "mf": (MF, MFConfig),
    "ease": (EASE, EASEConfig),
    "rp3beta": (RP3beta, RP3betaConfig),
    "gf_cf": (GFCF, GFCFConfig),
    "lightgcn": (LightGCNBaseline, LightGCNConfig),
    "bpr_mf": (BPRMF, BPRMFConfig),
    "ials": (IALS, IALSConfig),
}


def build_baseline(
    name: str, graph: RatingGraph, params: dict | None = None, seed: int | None = None
):  # noqa: ANN201
    """Fit a baseline with its default settings overridden by `params`; `seed` seeds the ones
    that draw random numbers (the others have none)."""
    if name not in BASELINES:
        raise ValueError(f"unknown baseline {name!r}; known: {', '.join(BASELINES)}")
    cls, config = BASELINES[name]
    if config is None:
        if params:
            raise ValueError(f"baseline {name!r} has no settings; got {sorted(params)}")
        return cls(graph)
    fields = {f.name for f in dataclasses.fields(config)}
    unknown = set(params or {}) - fields
    if unknown:
        raise ValueError(f"baseline {name!r} has no setting(s) {', '.join(sorted(unknown))}")
    seeded = {"seed": seed} if seed is not None and "seed" in fields else {}
    settings = config(**{**(params or {}), **seeded})
    # Fits that step over the same large temporaries (MF's: 312k x 32 rows at 25m) pay glibc's
    # fresh mapping of each one per step: MF at 25m took ~14 s per epoch, ~8 s with this.
    with keep_freed_memory():
        return cls(graph, settings)
