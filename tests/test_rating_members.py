"""The rating output as the average of several GraphSAGE encoders (ModelConfig.rating_members)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch
from conftest import assert_resume_repeats, outcome, saved_without

from reelgraph.graph.ratings import RatingGraph
from reelgraph.graph.sparse import BipartiteAdjacency
from reelgraph.model.recommender import GraphSAGERecommender, message_graph
from reelgraph.model.saved import default_model_config, load_model
from reelgraph.model.scoring import Scorer
from reelgraph.serve.model_card import _members_text
from reelgraph.train.config import TrainConfig
from reelgraph.train.fit import train

FAST = TrainConfig(epochs=20, lr=0.01, patience=100, checkpoint_every=5, log_every=100)


def _model_and_graph(g: RatingGraph, members: int, seed: int = 0):  # noqa: ANN202
    torch.manual_seed(seed)
    model = GraphSAGERecommender(
        default_model_config(g, hidden=16, embed_dim=8, rating_members=members)
    )
    model.eval()  # no dropout: two passes compute the same numbers
    u, m, r = g.part("train")
    adj = BipartiteAdjacency.build(u, m, g.n_users, g.n_movies)
    return model, message_graph(adj, None, adj.canonical(r) - model.cfg.global_mean)


def test_the_rating_is_the_mean_of_each_members_own_prediction(tiny_graph: RatingGraph) -> None:
    g = tiny_graph
    model, graph = _model_and_graph(g, 3)
    users, movies, _ = g.part("val")
    each = model.member_predictions(g.x_user, g.x_movie, graph, users, movies)
    assert each.shape == (3, users.numel())
    u_out, m_out, _ = model.rating(g.x_user, model.rating_basis.inputs(g.x_movie), graph)
    # Each member alone: its own block of columns, read as a one-member model would.
    by_hand = []
    for k in range(3):
        block = slice(k * 9, (k + 1) * 9)
        zu, zm = u_out[:, block], m_out[:, block]
        by_hand.append(
            model.cfg.global_mean
            + zu[users, 8]
            + zm[movies, 8]
            + (zu[users, :8] * zm[movies, :8]).sum(1)
        )
    torch.testing.assert_close(each, torch.stack(by_hand))
    assert (each[0] - each[1]).abs().max() > 1e-3  # their own initial weights
    enc = model.encode(g.x_user, g.x_movie, graph)
    assert enc.z_user.shape == (g.n_users, 24)
    torch.testing.assert_close(model.predict(enc, users, movies), each.mean(0))
    # The matrix form over the catalogue is the same average.
    scores = model.score_all(enc, users[:4])
    torch.testing.assert_close(scores[torch.arange(4), movies[:4]], each[:, :4].mean(0))


def test_each_member_learns_from_its_own_error_alone(tiny_graph: RatingGraph) -> None:
    g = tiny_graph
    model, graph = _model_and_graph(g, 3)
    users, movies, ratings = g.part("train")
    each = model.member_predictions(g.x_user, g.x_movie, graph, users, movies)
    ((each[1] - ratings) ** 2).mean().backward()
    members = model.rating.members
    assert members[1].user_proj.weight.grad.abs().sum() > 0
    assert members[1].movie_head.weight.grad.abs().sum() > 0
    for k in (0, 2):
        for p in members[k].parameters():
            assert p.grad is None or not p.grad.any()


def test_one_member_is_the_single_encoder_to_the_last_bit(tiny_graph: RatingGraph) -> None:
    g = tiny_graph
    model, graph = _model_and_graph(g, 1)
    assert "rating.user_proj.weight" in model.state_dict()  # older model files load
    users, movies, _ = g.part("val")
    enc = model.encode(g.x_user, g.x_movie, graph)
    assert enc.z_user.shape == (g.n_users, 8)
    assert torch.equal(
        model.member_predictions(g.x_user, g.x_movie, graph, users, movies)[0],
        model.predict(enc, users, movies),
    )


def test_members_train_repeatably_and_score_users_never_seen(
    tiny_graph: RatingGraph, tmp_path: Path
) -> None:
    cfg = default_model_config(tiny_graph, rating_members=3)
    a = train(tiny_graph, tmp_path / "a", FAST, cfg)
    b = train(tiny_graph, tmp_path / "b", FAST, cfg)
    assert a.metrics == b.metrics and outcome(a.history) == outcome(b.history)
    _, _, r_train = tiny_graph.part("train")
    _, _, r_val = tiny_graph.part("val")
    global_mean_rmse = float(torch.sqrt(torch.mean((r_val - r_train.mean()) ** 2)))
    assert a.metrics["val"]["rmse"] < global_mean_rmse
    model, _ = load_model(a.model_path)
    assert model.cfg.rating_members == 3
    scorer = Scorer.from_model(model, tiny_graph, torch.device("cpu"))
    users, movies, _ = tiny_graph.part("val")
    pred = scorer.predict(users.numpy(), movies.numpy())
    rmse = float(np.sqrt(np.mean((pred - r_val.numpy()) ** 2)))
    assert abs(rmse - a.metrics["val"]["rmse"]) < 1e-4  # the selected members, as saved
    liked = np.arange(0, 10)
    fan = scorer.score_new_user(liked, np.full(10, 5.0)).ratings
    hater = scorer.score_new_user(liked, np.full(10, 0.5)).ratings
    assert np.isfinite(fan).all() and fan.mean() > hater.mean()


def test_a_killed_run_with_members_resumes_to_the_same_result(
    tiny_graph: RatingGraph, tmp_path: Path
) -> None:
    cfg = default_model_config(tiny_graph, rating_members=2)
    assert_resume_repeats(tiny_graph, tmp_path, dataclasses.replace(FAST, epochs=8), 4, cfg)


def test_a_model_file_from_before_members_loads_as_one(
    tiny_graph: RatingGraph, tmp_path: Path
) -> None:
    one = default_model_config(tiny_graph, rating_members=1)  # as every file before them
    result = train(tiny_graph, tmp_path, dataclasses.replace(FAST, epochs=2), one)
    old, saved = saved_without(result.model_path, "rating_members", tmp_path)
    model, _ = load_model(old)
    assert model.cfg.rating_members == 1
    torch.testing.assert_close(model.state_dict(), saved["state_dict"])


def test_the_model_card_says_what_the_rating_averages() -> None:
    assert _members_text({"rating_members": 1, "embed_dim": 32}) == ""
    assert "the average of 3 such encoders" in _members_text({"rating_members": 3, "embed_dim": 32})
    assert _members_text({"embed_dim": 32}) == ""  # a card of a model from before members
