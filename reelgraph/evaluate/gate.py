"""The publish gate's comparison: a new run's GraphSAGE against the latest run's, on ratings
neither of them trained on.

Why not the new run's test part scored by both served models: a served model is refit on every
rating of its data, so the old one saw (most of) the new run's test part. The gate compares the
two *evaluated* models instead (each trained on its own train part, selected on its own
validation part) on the held-out set

    H = the new run's test ratings, less every (user, movie) pair in the old run's train or
        validation part, kept where both graphs know the user and the movie,

so no rating in H reached either model's weights or its selection. For a run on the same data
and split, H is the whole test part (the new model's figures on it are its test figures); for
a new export, H holds the new ratings and those both runs held out. Each model ranks the whole
catalogue less its own train movies (the evaluation protocol, reelgraph.evaluate.protocol).

Imports only torch / numpy.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from reelgraph.evaluate.baselines import GraphSAGEAdapter
from reelgraph.evaluate.protocol import evaluate
from reelgraph.graph.ratings import RatingGraph

GATE_K = 20  # the gate reads NDCG@20, the figure the comparison table leads with
GATE_PART = "gate"  # the held-out set's name as a part of each compared graph
MAX_GATE_USERS = 20_000  # at 25m, a seeded sample of users keeps the gate to seconds


@dataclasses.dataclass(frozen=True)
class Figures:
    ndcg: float  # NDCG@GATE_K
    rmse: float


@dataclasses.dataclass(frozen=True)
class Verdict:
    held: bool
    new: Figures
    old: Figures
    ratings: int  # size of H
    users: int  # users with a relevant movie in H (NDCG's denominator)
    tolerance: float
    worse: tuple[str, ...]  # the figures past the tolerance: "ndcg@20", "rmse"


def _pair_keys(user_ids: np.ndarray, movie_ids: np.ndarray) -> np.ndarray:
    """One int64 per (user id, movie id): MovieLens ids fit in 32 bits each."""
    return user_ids.astype(np.int64) << 32 | movie_ids.astype(np.int64)


def _ids_of(graph: RatingGraph, parts: tuple[str, ...]) -> tuple[np.ndarray, ...]:
    """(user id, movie id, rating) of the named parts, in MovieLens ids."""
    u, m, r = (
        np.concatenate([graph.part(p)[i].numpy() for p in parts if p in graph.edges])
        for i in range(3)
    )
    return graph.user_ids.numpy()[u], graph.movie_ids.numpy()[m], r


def _member(values: np.ndarray, pool: np.ndarray) -> np.ndarray:
    """np.isin(values, pool) by sorting both and one binary search of the sorted values: at
    25m, 2.5M test pairs against 22.5M seen ones took np.isin 27 s, this about 3 s."""
    pool = np.sort(pool, kind="stable")
    if not pool.size:
        return np.zeros(values.shape, dtype=bool)
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    at = np.minimum(np.searchsorted(pool, ordered), pool.size - 1)
    found = np.empty(values.shape, dtype=bool)
    found[order] = pool[at] == ordered
    return found


def held_out_pairs(
    new: RatingGraph, old: RatingGraph, max_users: int = MAX_GATE_USERS, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """H as (user id, movie id, rating) arrays (see the module's docstring); at most max_users
    users, a seeded sample when there are more."""
    u, m, r = _ids_of(new, ("test",))
    seen_u, seen_m, _ = _ids_of(old, ("train", "val"))
    keep = ~_member(_pair_keys(u, m), _pair_keys(seen_u, seen_m))
    for ids, known in ((u, old.user_ids), (m, old.movie_ids)):
        keep &= _member(ids, known.numpy())
    u, m, r = u[keep], m[keep], r[keep]
    users = np.unique(u)
    if users.size > max_users:
        chosen = np.random.default_rng(seed).choice(users, max_users, replace=False)
        keep = np.isin(u, chosen)
        u, m, r = u[keep], m[keep], r[keep]
    return u, m, r


def _with_part(graph: RatingGraph, u: np.ndarray, m: np.ndarray, r: np.ndarray) -> RatingGraph:
    """The graph with H as one more part, in the graph's own indices."""
    ui = _index_of(graph.user_ids.numpy(), u)
    mi = _index_of(graph.movie_ids.numpy(), m)
    edges = torch.from_numpy(np.stack([ui, mi, r]).astype(np.float32))
    return dataclasses.replace(graph, edges={**graph.edges, GATE_PART: edges})


def _index_of(ids: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    order = np.argsort(ids)
    return order[np.searchsorted(ids, wanted, sorter=order)]


def figures_on(scorer, graph: RatingGraph, pairs: tuple[np.ndarray, ...]) -> tuple[Figures, int]:  # noqa: ANN001 - reelgraph.model.scoring.Scorer
    """A model's NDCG@GATE_K and RMSE on H, and the users NDCG averaged over."""
    result = evaluate(
        GraphSAGEAdapter(scorer),
        _with_part(graph, *pairs),
        GATE_PART,
        (GATE_K,),
        device=scorer.device,
    )
    metrics = result.metrics
    return Figures(metrics[("ndcg", GATE_K)], metrics[("rmse", None)]), result.users_evaluated


def judge(new: Figures, old: Figures, tolerance: float) -> tuple[str, ...]:
    """The figures on which the new model is worse than the old by more than `tolerance`
    (relative): NDCG lower, RMSE higher."""
    worse = []
    if new.ndcg < old.ndcg * (1 - tolerance):
        worse.append(f"ndcg@{GATE_K}")
    if new.rmse > old.rmse * (1 + tolerance):
        worse.append("rmse")
    return tuple(worse)


def compare(
    new: tuple[RatingGraph, object],
    old: tuple[RatingGraph, object],
    tolerance: float,
    seed: int = 0,
) -> Verdict | None:
    """(graph, scorer) of the new and the old evaluated model; None when H has no relevant
    rating to rank by (nothing to compare on)."""
    pairs = held_out_pairs(new[0], old[0], seed=seed)
    if not pairs[0].size:
        return None
    new_figures, users = figures_on(new[1], new[0], pairs)
    old_figures, _ = figures_on(old[1], old[0], pairs)
    if users == 0:
        return None
    worse = judge(new_figures, old_figures, tolerance)
    return Verdict(
        bool(worse), new_figures, old_figures, int(pairs[0].size), users, tolerance, worse
    )
