"""The rating encoder's fixed movie inputs: rows of the spectral basis of the train interactions
(ModelConfig.rating_basis_dim, reelgraph.model.rating_basis)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import saved_without

from reelgraph.graph.ratings import RatingGraph
from reelgraph.graph.sparse import BipartiteAdjacency
from reelgraph.graph.spectral import spectral_basis
from reelgraph.model.rating_basis import RatingBasis
from reelgraph.model.recommender import GraphSAGERecommender, message_graph
from reelgraph.model.saved import default_model_config, load_model
from reelgraph.model.scoring import Scorer
from reelgraph.serve.model_card import _basis_text
from reelgraph.train.config import TrainConfig
from reelgraph.train.fit import train

FAST = TrainConfig(epochs=6, lr=0.01, patience=100, log_every=100)


def test_the_rows_are_the_movies_spectral_rows_at_unit_scale(tiny_graph: RatingGraph) -> None:
    g = tiny_graph
    users, movies, _ = g.part("train")
    basis = RatingBasis(g.n_movies, 8)
    basis.start(users, movies, g.n_users)
    user_rows, movie_rows = spectral_basis(users, movies, g.n_users, g.n_movies, 8)
    by_hand = movie_rows / torch.cat([user_rows, movie_rows]).std()
    torch.testing.assert_close(basis.rows, by_hand)
    unrated = torch.ones(g.n_movies, dtype=torch.bool)
    unrated[movies] = False
    assert unrated.any() and basis.rows[unrated].abs().max() < 1e-5  # no pairs, (about) no row
    assert basis.rows[~unrated].abs().sum(1).min() > 1e-3


def test_the_inputs_append_the_rows_and_stay_one_tensor_while_nothing_changes(
    tiny_graph: RatingGraph,
) -> None:
    g = tiny_graph
    users, movies, _ = g.part("train")
    basis = RatingBasis(g.n_movies, 4)
    first = basis.inputs(g.x_movie)
    assert first.shape == (g.n_movies, g.x_movie.shape[1] + 4) and not first[:, -4:].any()
    assert basis.inputs(g.x_movie) is first  # a message graph keeps its aggregates of it
    basis.start(users, movies, g.n_users)
    started = basis.inputs(g.x_movie)
    assert started is not first and torch.equal(started[:, -4:], basis.rows)
    assert torch.equal(started[:, : g.x_movie.shape[1]], g.x_movie)
    # Movies added after training read zero rows.
    more = torch.cat([g.x_movie, g.x_movie[:3]])
    assert basis.inputs(more).shape[0] == g.n_movies + 3 and not basis.inputs(more)[-3:, -4:].any()
    assert torch.equal(RatingBasis(g.n_movies, 0).inputs(g.x_movie), g.x_movie)


def test_the_rating_encoder_reads_the_rows_and_the_ranking_one_does_not(
    tiny_graph: RatingGraph,
) -> None:
    g = tiny_graph
    u, m, r = g.part("train")
    torch.manual_seed(0)
    model = GraphSAGERecommender(default_model_config(g, hidden=16, embed_dim=8, rating_members=1))
    model.eval()
    model.rating_basis.start(u, m, g.n_users)
    adj = BipartiteAdjacency.build(u, m, g.n_users, g.n_movies)
    graph = message_graph(adj, None, adj.canonical(r) - model.cfg.global_mean)
    before = model.encode(g.x_user, g.x_movie, graph)
    with torch.no_grad():
        model.rating_basis.rows[m[0]] += 1.0
    after = model.encode(g.x_user, g.x_movie, graph)
    assert not torch.allclose(before.z_movie[m[0]], after.z_movie[m[0]])
    assert torch.equal(before.y_movie, after.y_movie) and torch.equal(before.c_movie, after.c_movie)
    # The basis columns of the rating encoder's movie projection learn.
    vs, vm, vr = g.part("val")
    ((model.predict(after, vs, vm) - vr) ** 2).mean().backward()
    assert model.rating.movie_proj.weight.grad[:, -model.cfg.rating_basis_dim :].abs().sum() > 0


@pytest.mark.parametrize("members", [1, 2])
def test_the_basis_leaves_every_other_initial_weight_as_it_was(
    tiny_graph: RatingGraph, members: int
) -> None:
    weights = []
    for dim in (0, 16):
        torch.manual_seed(0)
        cfg = default_model_config(tiny_graph, rating_basis_dim=dim, rating_members=members)
        weights.append(GraphSAGERecommender(cfg))
    without, with_basis = (w.state_dict() for w in weights)
    widened = [n for n in without if n.startswith("rating.") and n.endswith("movie_proj.weight")]
    assert len(widened) == members
    for name, value in without.items():
        if name in widened:
            assert with_basis[name].shape[1] == tiny_graph.x_movie.shape[1] + 16
            torch.testing.assert_close(with_basis[name][:, : value.shape[1]], value)
        else:
            torch.testing.assert_close(with_basis[name], value)


def test_training_sets_the_basis_from_the_train_pairs_and_a_warm_refit_keeps_it(
    tiny_graph: RatingGraph, tmp_path: Path
) -> None:
    g = tiny_graph
    result = train(g, tmp_path / "a", FAST)
    model, _ = load_model(result.model_path)
    u, m, _ = g.part("train")
    expected = RatingBasis(g.n_movies, model.cfg.rating_basis_dim)
    expected.start(u, m, g.n_users)
    assert torch.equal(model.rating_basis.rows, expected.rows)
    refit = train(g, tmp_path / "b", FAST, fixed_epochs=(2, 2), warm_start=result.model_path)
    again, _ = load_model(refit.model_path)
    assert torch.equal(again.rating_basis.rows, model.rating_basis.rows)


def test_a_model_file_from_before_the_basis_loads_without_it(
    tiny_graph: RatingGraph, tmp_path: Path
) -> None:
    cfg = default_model_config(tiny_graph, rating_basis_dim=0)
    result = train(tiny_graph, tmp_path, dataclasses.replace(FAST, epochs=2), cfg)
    old, _ = saved_without(result.model_path, "rating_basis_dim", tmp_path)
    model, _ = load_model(old)
    assert model.cfg.rating_basis_dim == 0
    users, movies, ratings = tiny_graph.part("val")
    pred = Scorer.from_model(model, tiny_graph, torch.device("cpu")).predict(
        users.numpy(), movies.numpy()
    )
    rmse = float(np.sqrt(np.mean((pred - ratings.numpy()) ** 2)))
    assert abs(rmse - result.metrics["val"]["rmse"]) < 1e-4


def test_the_model_card_says_what_the_movies_read() -> None:
    assert "64 fixed rows of the spectral basis" in _basis_text({"rating_basis_dim": 64})
    assert _basis_text({"rating_basis_dim": 0}) == _basis_text({}) == ""  # a card from before
