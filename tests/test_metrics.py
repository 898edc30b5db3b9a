from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from reelgraph.evaluate.metrics import rating_metrics
from reelgraph.evaluate.protocol import (
    RankingAccumulator,
    Relevance,
    hits_matrix,
    ndcg_ref_sums,
    ranking_at_k,
    tie_averaged_ndcg,
)
from reelgraph.graph.ratings import RatingGraph, UserItems


def test_rating_metrics_by_hand() -> None:
    m = rating_metrics(np.array([3.0, 4.0, 5.0]), np.array([4.0, 4.0, 3.5]))
    assert m["rmse"] == pytest.approx(math.sqrt((1 + 0 + 2.25) / 3))
    assert m["mae"] == pytest.approx(2.5 / 3)
    assert m["mse_scaled"] == pytest.approx((3.25 / 3) / 4.5**2)  # ratings min-max scaled to [0, 1]


def test_ranking_metrics_by_hand() -> None:
    # One user, relevant {1, 3, 9}; ranked list [1, 2, 3, 4]: hits at ranks 1 and 3.
    hits = np.array([[True, False, True, False]])
    m = ranking_at_k(hits, np.array([3]), k=4)
    assert m["precision"][0] == pytest.approx(2 / 4)
    assert m["recall"][0] == pytest.approx(2 / 3)
    assert m["hit_rate"][0] == 1.0
    dcg = 1 / math.log2(2) + 1 / math.log2(4)
    idcg = 1 / math.log2(2) + 1 / math.log2(3) + 1 / math.log2(4)
    assert m["ndcg"][0] == pytest.approx(dcg / idcg)
    assert m["map"][0] == pytest.approx((1 / 1 + 2 / 3) / 3)
    # K larger than the candidates: a 4-long list at K = 10 divides precision by 10, IDCG by min(3, 10).
    m10 = ranking_at_k(hits, np.array([3]), k=10)
    assert m10["precision"][0] == pytest.approx(2 / 10) and m10["ndcg"][0] == pytest.approx(
        dcg / idcg
    )


def test_users_without_relevant_items_are_skipped_and_counted() -> None:
    rel = Relevance.from_edges(
        np.array([0, 0, 1]),
        np.array([5, 6, 7]),
        np.array([4.5, 2.0, 3.0]),
        n_users=3,
        threshold=4.0,
    )
    assert list(rel.count(np.arange(3))) == [1, 0, 0]  # user 1 only rated 7 at 3 stars
    acc = RankingAccumulator((2,), n_movies=8, item_popularity=np.ones(8), n_train_users=3)
    acc.add(np.array([0, 1, 2]), np.array([[5, 1], [7, 2], [0, 3]]), rel)
    out = acc.result()
    assert (acc.users_evaluated, acc.users_skipped) == (1, 2)
    assert out[("recall", 2)] == 1.0 and out[("precision", 2)] == 0.5


def test_user_items_hold_each_users_movies_sorted() -> None:
    rng = np.random.default_rng(0)
    users, movies = rng.integers(0, 50, 2_000), rng.integers(0, 300, 2_000)
    items = UserItems.from_edges(users, movies, 60)
    assert items.indptr[-1] == users.size and items.count(np.array([55])).item() == 0
    for u in range(60):
        assert np.array_equal(items.of(u), np.sort(movies[users == u]))


def test_a_graph_sorts_each_set_of_user_items_once() -> None:
    """Every part's and the train part's sets are one and the same when the held-out parts are
    empty (a refit's graph of every rating); otherwise each is its own."""
    rng = np.random.default_rng(0)

    def edges(n: int) -> torch.Tensor:
        return torch.tensor(
            np.stack([rng.integers(0, 20, n), rng.integers(0, 30, n), rng.integers(1, 6, n)]),
            dtype=torch.float32,
        )

    def graph(val: int) -> RatingGraph:
        return RatingGraph(
            user_ids=torch.arange(20),
            movie_ids=torch.arange(30),
            x_user=torch.zeros(20, 1),
            x_movie=torch.zeros(30, 1),
            edges={"train": edges(200), "val": edges(val), "test": edges(0)},
            user_features=["u"],
            movie_features=["m"],
        )

    every_rating = graph(0)
    assert every_rating.user_items(("train",)) is every_rating.user_items()
    held_out = graph(40)
    train, rated = held_out.user_items(("train",)), held_out.user_items()
    assert train is not rated and rated.indptr[-1] == train.indptr[-1] + 40
    assert graph(0).user_items(("test",)).indptr[-1] == 0  # only empty parts asked: none


def test_catalogue_metrics_by_hand() -> None:
    # Three users' top-2 lists over 4 movies; popularity (train ratings) 3, 2, 1, 0 of 4 train users.
    top = np.array([[0, 1], [0, 2], [0, 1]])
    rel = Relevance.from_edges(np.array([0, 1, 2]), np.array([0, 0, 0]), np.full(3, 5.0), 3, 4.0)
    acc = RankingAccumulator(
        (2,), n_movies=4, item_popularity=np.array([3, 2, 1, 0]), n_train_users=4
    )
    acc.add(np.arange(3), top, rel)
    out = acc.result()
    assert out[("coverage", 2)] == pytest.approx(3 / 4)
    info = {0: -math.log2(3 / 4), 1: -math.log2(2 / 4), 2: -math.log2(1 / 4)}
    assert out[("novelty", 2)] == pytest.approx((3 * info[0] + 2 * info[1] + info[2]) / 6)
    # Overlaps |A n B| / 2 of the pairs (0,1), (0,2), (1,2): 1/2, 2/2, 1/2.
    assert out[("personalization", 2)] == pytest.approx(1 - (0.5 + 1 + 0.5) / 3)
    percentile = {0: 1.0, 1: 2 / 3, 2: 1 / 3}  # rank of popularity among the 4 movies
    assert out[("popularity_bias", 2)] == pytest.approx(
        (3 * percentile[0] + 2 * percentile[1] + percentile[2]) / 6
    )


def test_ties_in_the_reference_ndcg_follow_sklearn() -> None:
    from sklearn.metrics import ndcg_score

    users = np.array(
        [0, 0, 0, 1, 1, 2]
    )  # user 2 has one held-out movie: skipped, as sklearn needs two
    truth = np.array([5.0, 3.0, 1.0, 4.0, 2.0, 5.0])
    pred = np.array([3.0, 3.0, 2.0, 1.0, 4.0, 2.0])  # a tie for user 0
    expected = (ndcg_score([[5, 3, 1]], [[3, 3, 2]]) + ndcg_score([[4, 2]], [[1, 4]])) / 2
    total, n = ndcg_ref_sums(users, truth, pred)
    assert n == 2 and total / n == pytest.approx(expected)
    # A random order still scores high on this metric, which is why it is only reported, labelled.
    rng = np.random.default_rng(0)
    u = np.repeat(np.arange(200), 10)
    t = rng.choice(np.arange(1, 11) / 2, size=u.size)
    total, n = ndcg_ref_sums(u, t, rng.random(u.size))
    assert total / n > 0.8


def test_the_matrix_ndcg_is_sklearns_row_by_row_ties_and_all() -> None:
    from sklearn.metrics import ndcg_score

    rng = np.random.default_rng(1)
    for trial in range(60):
        rows, width = rng.integers(1, 20), rng.integers(2, 12)
        gains = rng.choice(np.arange(1, 11) / 2, size=(rows, width))
        # Clamped predictions tie often; a constant one (the global mean) ties everywhere.
        scores = rng.choice(np.arange(1, 11) / 2, size=(rows, width)).astype(np.float32)
        if trial % 3 == 0:
            scores = rng.random((rows, width))
        if trial % 5 == 0:
            scores[:] = 3.5
        expected = [ndcg_score(gains[i : i + 1], scores[i : i + 1]) for i in range(rows)]
        assert tie_averaged_ndcg(gains, scores) == pytest.approx(expected, abs=1e-12)


def test_at_k_metrics_agree_with_torch_geometric() -> None:
    from torch_geometric.metrics import LinkPredMAP, LinkPredNDCG, LinkPredPrecision, LinkPredRecall

    rng = np.random.default_rng(1)
    n_users, n_movies, k = 30, 40, 10
    top = np.stack([rng.permutation(n_movies)[:k] for _ in range(n_users)])
    u = rng.integers(0, n_users, 120)
    m = rng.integers(0, n_movies, 120)
    pairs = np.unique(u * n_movies + m)
    u, m = pairs // n_movies, pairs % n_movies
    rel = Relevance.from_edges(u, m, np.full(u.size, 5.0), n_users, 4.0)
    users = np.arange(n_users)
    n_rel = rel.count(users)
    ours = ranking_at_k(hits_matrix(top, users, rel), n_rel, k)
    has = n_rel > 0
    for name, metric in (
        ("precision", LinkPredPrecision(k)),
        ("recall", LinkPredRecall(k)),
        ("ndcg", LinkPredNDCG(k)),
        ("map", LinkPredMAP(k)),
    ):
        metric.update(
            torch.from_numpy(top), torch.stack([torch.from_numpy(u), torch.from_numpy(m)])
        )
        assert ours[name][has].mean() == pytest.approx(float(metric.compute()), rel=1e-5), name
