"""One evaluation code path for every model: rating metrics on held-out pairs, full-catalogue
ranking metrics @K, and catalogue-level metrics of the top-K lists.

Protocol (stated so figures can be compared):
- ranking: every movie of the catalogue is a candidate except the user's TRAIN movies; a
  held-out movie is relevant when its rating >= `threshold` (4.0 by default); users without a
  relevant held-out movie are skipped and counted. Precision divides by K even when fewer
  candidates exist, recall by the number of relevant movies, MAP and NDCG normalise by
  min(#relevant, K): the definitions of torch_geometric.metrics.LinkPred*.
- coverage: share of the catalogue in at least one top-K list; novelty: mean self-information
  -log2(share of train users who rated the movie) of recommended movies; personalization:
  1 - mean overlap |A n B| / K over all pairs of users' lists; popularity_bias: mean popularity
  percentile (0 = least, 1 = most rated in train) of recommended movies.
- the reference report's figures, labelled: mse_scaled (MSE on ratings min-max scaled to
  [0, 1]) and ndcg_ref, the mean over users of sklearn's ndcg_score of their own held-out
  movies ranked by predicted rating (a random order scores above 0.9 there).

Imports only torch / numpy.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable
from typing import Protocol

import numpy as np
import torch

from reelgraph.core.conventions import RELEVANT_RATING
from reelgraph.evaluate.metrics import rating_metrics_of_sums, rating_sums
from reelgraph.graph.ratings import RatingGraph, UserItems
from reelgraph.model.top_k import scores_into, top_k_of

RANKING = ("precision", "recall", "ndcg", "map", "hit_rate")
CATALOGUE = ("coverage", "novelty", "personalization", "popularity_bias")


class Recommender(Protocol):
    name: str

    def score(self, users: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        """(len(users), n_movies) scores, higher is better; written into `out` (a reused
        buffer of that shape) where the model can, else a new tensor."""

    def predict(self, users: torch.Tensor, movies: torch.Tensor) -> torch.Tensor | None:
        """Predicted ratings in stars, or None for a model that only ranks."""


class Relevance(UserItems):
    """Each user's relevant held-out movies (rating >= threshold)."""

    @staticmethod
    def from_edges(
        users: np.ndarray, movies: np.ndarray, ratings: np.ndarray, n_users: int, threshold: float
    ) -> Relevance:  # type: ignore[override]
        keep = ratings >= threshold
        base = UserItems.from_edges(users[keep], movies[keep], n_users)
        return Relevance(base.indptr, base.items)


def hits_matrix(top: np.ndarray, users: np.ndarray, rel: Relevance) -> np.ndarray:
    """(b, K) bool: is the movie at each rank relevant to that user?"""
    rows, items = rel.pairs(users)
    if not rows.size:
        return np.zeros(top.shape, dtype=bool)
    # One membership test for the whole batch: (row, movie) pairs as single integers.
    width = int(max(top.max(), items.max())) + 1
    keys = np.arange(len(users), dtype=np.int64)[:, None] * width + top
    return np.isin(keys, rows.astype(np.int64) * width + items)


def ranking_at_k(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> dict[str, np.ndarray]:
    """Per-user metrics @k from a (b, >=k or fewer) hits matrix; rows with n_relevant = 0 give 0."""
    h = hits[:, :k].astype(np.float64)
    n_hits = h.sum(1)
    ranks = np.arange(1, h.shape[1] + 1)
    discount = 1.0 / np.log2(ranks + 1)
    ideal = np.concatenate([[0.0], np.cumsum(1.0 / np.log2(np.arange(2, k + 2)))])
    denom = np.minimum(n_relevant, k)
    with np.errstate(divide="ignore", invalid="ignore"):
        ndcg = np.where(denom > 0, (h * discount).sum(1) / ideal[denom], 0.0)
        ap = np.where(denom > 0, (np.cumsum(h, 1) / ranks * h).sum(1) / np.maximum(denom, 1), 0.0)
        recall = np.where(n_relevant > 0, n_hits / np.maximum(n_relevant, 1), 0.0)
    return {
        "precision": n_hits / k,
        "recall": recall,
        "ndcg": ndcg,
        "map": ap,
        "hit_rate": (n_hits > 0).astype(float),
    }


@dataclasses.dataclass
class RankingAccumulator:
    """Sums per-user ranking metrics and catalogue statistics over batches of top-K lists."""

    k_values: tuple[int, ...]
    n_movies: int
    item_popularity: np.ndarray  # train ratings per movie
    n_train_users: int
    sums: dict[tuple[str, int], float] = dataclasses.field(default_factory=dict)
    users_evaluated: int = 0
    users_skipped: int = 0
    list_counts: dict[int, np.ndarray] = dataclasses.field(default_factory=dict)
    lists: dict[int, int] = dataclasses.field(default_factory=dict)

    def add(self, users: np.ndarray, top: np.ndarray, rel: Relevance) -> None:
        n_rel = rel.count(users)
        has = n_rel > 0
        self.users_evaluated += int(has.sum())
        self.users_skipped += int((~has).sum())
        hits = hits_matrix(top[has], users[has], rel)
        for k in self.k_values:
            for name, per_user in ranking_at_k(hits, n_rel[has], k).items():
                self.sums[(name, k)] = self.sums.get((name, k), 0.0) + float(per_user.sum())
            # Catalogue metrics describe what every user is shown, relevant items or not.
            counts = self.list_counts.setdefault(k, np.zeros(self.n_movies, dtype=np.int64))
            np.add.at(counts, top[:, :k].ravel(), 1)
            self.lists[k] = self.lists.get(k, 0) + len(users)

    def merge(self, other: RankingAccumulator) -> None:
        """Add another shard's sums and counts to these."""
        for key, v in other.sums.items():
            self.sums[key] = self.sums.get(key, 0.0) + v
        for k, counts in other.list_counts.items():
            self.list_counts[k] = self.list_counts.get(k, 0) + counts
            self.lists[k] = self.lists.get(k, 0) + other.lists[k]
        self.users_evaluated += other.users_evaluated
        self.users_skipped += other.users_skipped

    def result(self) -> dict[tuple[str, int], float]:
        out = {key: v / max(self.users_evaluated, 1) for key, v in self.sums.items()}
        share = np.maximum(self.item_popularity, 1) / max(self.n_train_users, 1)
        info = -np.log2(np.minimum(share, 1.0))
        percentile = np.argsort(
            np.argsort(self.item_popularity, kind="stable"), kind="stable"
        ) / max(self.n_movies - 1, 1)
        for k, counts in self.list_counts.items():
            n_lists, shown = self.lists[k], counts.sum()
            out[("coverage", k)] = float((counts > 0).mean())
            out[("novelty", k)] = float((counts * info).sum() / max(shown, 1))
            out[("popularity_bias", k)] = float((counts * percentile).sum() / max(shown, 1))
            pairs = n_lists * (n_lists - 1) / 2
            overlap = float((counts * (counts - 1) / 2).sum() / pairs / k) if pairs else 0.0
            out[("personalization", k)] = 1.0 - overlap
        return out


def ndcg_ref_sums(users: np.ndarray, truth: np.ndarray, pred: np.ndarray) -> tuple[float, int]:
    """The reference report's NDCG, as (sum over users, users): sklearn's ndcg_score per user
    over their own held-out movies (true ratings as gains, ranked by predicted rating), for
    users with >= 2 of them; the figure is the mean. Users with equally many held-out movies are
    scored as one matrix (tie_averaged_ndcg)."""
    order = np.argsort(users, kind="stable")
    u, t, p = users[order], truth[order], pred[order]
    starts = np.flatnonzero(np.r_[True, u[1:] != u[:-1]])
    lengths = np.diff(np.r_[starts, u.size])
    total, n = 0.0, 0
    for length in np.unique(lengths):
        if length < 2:
            continue
        s = starts[lengths == length]
        idx = s[:, None] + np.arange(length)[None, :]
        total += float(tie_averaged_ndcg(t[idx], p[idx]).sum())
        n += len(s)
    return total, n


def tie_averaged_ndcg(gains: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Each row's NDCG of `gains` (>= 0) ranked by `scores`, as sklearn's ndcg_score computes
    it (ignore_ties=False): movies with equal scores share their positions' discounts equally,
    i.e. the mean DCG over the orders of the tie. sklearn does this row by row in Python (at 25m
    about 5 s per model); here every row of the matrix at once."""
    n_rows, width = gains.shape
    discount = 1.0 / np.log2(np.arange(width) + 2.0)
    order = np.argsort(-scores, axis=1, kind="stable")
    ranked_scores = np.take_along_axis(scores, order, axis=1)
    ranked_gains = np.take_along_axis(gains, order, axis=1).astype(np.float64)
    # A tie group starts each row and wherever the score changes; group ids run over all rows.
    starts = np.ones((n_rows, width), dtype=bool)
    starts[:, 1:] = ranked_scores[:, 1:] != ranked_scores[:, :-1]
    group = np.cumsum(starts.ravel()) - 1
    size = np.bincount(group)
    gain = np.bincount(group, weights=ranked_gains.ravel())
    discounts = np.bincount(group, weights=np.broadcast_to(discount, (n_rows, width)).ravel())
    row_of_group = np.repeat(np.arange(n_rows), starts.sum(1))
    dcg = np.bincount(row_of_group, weights=gain / size * discounts, minlength=n_rows)
    ideal = -np.sort(-gains.astype(np.float64), axis=1) @ discount
    return np.divide(dcg, ideal, out=np.zeros(n_rows), where=ideal > 0)


@dataclasses.dataclass
class EvalResult:
    model: str
    part: str
    metrics: dict[tuple[str, int | None], float]
    users_evaluated: int
    users_skipped: int
    seconds: float

    def rows(self) -> list[tuple[str, str, str, int | None, float]]:
        return [
            (self.model, self.part, name, k, float(v))
            for (name, k), v in sorted(self.metrics.items(), key=lambda x: (x[0][0], x[0][1] or 0))
        ]


@dataclasses.dataclass(frozen=True)
class _Heldout:
    """What every user shard's evaluation reads from all the edges, made once per graph (at 25m
    seconds of sorting): the held-out pairs, their relevance, each user's train movies (never
    candidates) and the movies' train popularity."""

    users: np.ndarray
    movies: np.ndarray
    ratings: np.ndarray
    relevant: Relevance
    train: UserItems
    popularity: np.ndarray
    train_users: int

    @staticmethod
    def of(graph: RatingGraph, part: str, threshold: float) -> _Heldout:
        tu, tm, _ = (t.numpy() for t in graph.part("train"))
        hu, hm, hr = (t.numpy() for t in graph.part(part))
        return _Heldout(
            hu,
            hm,
            hr,
            Relevance.from_edges(hu, hm, hr, graph.n_users, threshold),
            graph.user_items(("train",)),
            np.bincount(tm, minlength=graph.n_movies),
            int(np.count_nonzero(np.bincount(tu, minlength=graph.n_users))),  # no 20M sort
        )

    def pairs(self, users: range) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The held-out (user, movie, rating) of a shard of users."""
        mine = (self.users >= users.start) & (self.users < users.stop)
        return self.users[mine], self.movies[mine], self.ratings[mine]


@dataclasses.dataclass
class PartialEval:
    """One user shard's sums (ranking, catalogue and rating): `merge` adds the shards of a
    model up into its metrics. A few kB plus one count per movie and K: small enough to come
    back from another process."""

    model: str
    part: str
    ranking: RankingAccumulator
    rating: dict[str, float] | None  # rating_sums and ndcg_ref's; None: the model only ranks
    seconds: float


def merge(partials: list[PartialEval]) -> EvalResult:
    """The metrics of every user from their shards' sums, added in the order given (the same
    shards in the same order give the same figures, wherever each shard ran)."""
    first = partials[0]
    ranking = dataclasses.replace(first.ranking, sums={}, list_counts={}, lists={})
    ranking.users_evaluated = ranking.users_skipped = 0
    rating: dict[str, float] | None = None
    for p in partials:
        ranking.merge(p.ranking)
        if p.rating is not None:
            rating = {k: (rating or {}).get(k, 0.0) + v for k, v in p.rating.items()}
    metrics: dict[tuple[str, int | None], float] = dict(ranking.result())
    if rating is not None and rating["pairs"]:
        for name, v in rating_metrics_of_sums(rating).items():
            metrics[(name, None)] = v
        if rating["ndcg_ref_users"]:
            metrics[("ndcg_ref", None)] = rating["ndcg_ref"] / rating["ndcg_ref_users"]
        else:
            metrics[("ndcg_ref", None)] = float("nan")
    return EvalResult(
        first.model,
        first.part,
        metrics,
        ranking.users_evaluated,
        ranking.users_skipped,
        sum(p.seconds for p in partials),
    )


def evaluate_users(
    rec: Recommender,
    graph: RatingGraph,
    part: str = "test",
    k_values: Iterable[int] = (10, 20),
    threshold: float = RELEVANT_RATING,
    users: range | None = None,
    batch_size: int = 2048,
    device: torch.device | str = "cpu",
    progress: Callable[[int, int], None] | None = None,
) -> PartialEval:
    """The sums of one shard of users (a range of user indices; None: every user): each of
    them x every movie scored in batches (memory: batch_size x n_movies scores), and the
    predicted ratings of their held-out pairs."""
    t0 = time.perf_counter()
    k_values = tuple(sorted(set(int(k) for k in k_values)))
    if not k_values or k_values[0] < 1:
        raise ValueError(f"k values must be positive integers, got {k_values}")
    users = range(graph.n_users) if users is None else users
    device = torch.device(device)
    split = graph.derived(
        ("evaluate", part, threshold), lambda: _Heldout.of(graph, part, threshold)
    )
    rel, train = split.relevant, split.train
    acc = RankingAccumulator(k_values, graph.n_movies, split.popularity, split.train_users)
    shard = np.arange(users.start, users.stop)
    scored = shard[rel.count(shard) > 0]  # only users that can be scored
    done = 0
    for batch, top in top_k_of(
        scores_into(rec),
        graph.n_movies,
        device,
        scored,
        k_values[-1],
        train,
        batch_size=batch_size,
    ):
        acc.add(batch, top.indices.cpu().numpy(), rel)
        done += batch.size
        if progress is not None:
            progress(done, scored.size)
    acc.users_skipped += shard.size - scored.size
    hu, hm, hr = split.pairs(users)
    with torch.no_grad():
        pred = rec.predict(torch.as_tensor(hu, device=device), torch.as_tensor(hm, device=device))
    rating = None
    if pred is not None:
        p = pred.float().cpu().numpy()
        total, n = ndcg_ref_sums(hu, hr, p)
        rating = {**rating_sums(p, hr), "ndcg_ref": total, "ndcg_ref_users": float(n)}
    return PartialEval(rec.name, part, acc, rating, time.perf_counter() - t0)


def evaluate(
    rec: Recommender,
    graph: RatingGraph,
    part: str = "test",
    k_values: Iterable[int] = (10, 20),
    threshold: float = RELEVANT_RATING,
    batch_size: int = 2048,
    device: torch.device | str = "cpu",
    progress: Callable[[int, int], None] | None = None,
) -> EvalResult:
    """Every user's metrics in one pass (evaluate_users over one shard of all users)."""
    return merge(
        [evaluate_users(rec, graph, part, k_values, threshold, None, batch_size, device, progress)]
    )
