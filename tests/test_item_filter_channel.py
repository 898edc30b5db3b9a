"""The ranking output's closed-form channel (reelgraph.model.item_filter): the low-rank EASE
rows against a hand-made case, the fused score in every reader, cold start, the weight chosen
on validation (and kept by a refit), exact repeatability."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from reelgraph.graph.ratings import RatingGraph
from reelgraph.model.item_filter import WEIGHTS, ItemFilter, ease_weights, select_items
from reelgraph.model.saved import default_model_config, load_model
from reelgraph.model.scoring import Scorer
from reelgraph.train.config import TrainConfig, refit_settings
from reelgraph.train.fit import train

FAST = TrainConfig(epochs=4, patience=100, rank_patience=100, log_every=100)


def test_select_items_keeps_the_most_rated_with_two_ratings_ties_by_index() -> None:
    movies = torch.tensor([0, 0, 1, 1, 1, 2, 3, 3, 4, 4])
    assert select_items(movies, 6, 10).tolist() == [0, 1, 3, 4]  # 2 has one rating, 5 none
    assert select_items(movies, 6, 2).tolist() == [0, 1]  # 1 (3 ratings), then 0 before 3, 4


def test_full_rank_channel_is_ease_on_a_hand_computed_case() -> None:
    # Users 0 and 1 rated movies 0 and 1, user 2 movies 1 and 2: X'X = [[2,2,0],[2,3,1],[0,1,1]].
    users = torch.tensor([0, 0, 1, 1, 2, 2])
    movies = torch.tensor([0, 1, 0, 1, 1, 2])
    gram = torch.tensor([[2.0, 2, 0], [2, 3, 1], [0, 1, 1]], dtype=torch.float64)
    reg = 1.0
    p = torch.linalg.inv(gram + reg * torch.eye(3, dtype=torch.float64))
    expected = -p / torch.diagonal(p)[None, :]
    expected.fill_diagonal_(0.0)
    assert torch.allclose(ease_weights(gram, reg), expected)
    # Movie 2 has one rating here: add a fourth user so all three are modelled.
    users, movies = torch.cat([users, torch.tensor([3])]), torch.cat([movies, torch.tensor([2])])
    gram[2, 2] += 1
    channel = ItemFilter(n_movies=4, dim=3, reg=reg, max_items=10)
    channel.fit(users, movies, n_users=4)
    f = channel.user_vectors(users, movies, 4)
    X = torch.zeros(4, 3, dtype=torch.float64)
    X[users, movies] = 1.0
    fused = (f @ channel.movie_side.T).double()
    assert torch.allclose(fused[:, :3], X @ ease_weights(gram, reg), atol=1e-5)
    assert torch.equal(channel.movie_side[3], torch.zeros(3))  # movie 3 (unrated): outside


def test_fitting_twice_gives_the_same_rows_bit_for_bit(tiny_graph: RatingGraph) -> None:
    u, m, _ = tiny_graph.part("train")
    rows = []
    for _ in range(2):
        channel = ItemFilter(tiny_graph.n_movies, 8, 50.0, 6000)
        torch.manual_seed(len(rows))  # the caller's RNG state must not matter
        channel.fit(u, m, tiny_graph.n_users)
        rows.append((channel.user_side.clone(), channel.movie_side.clone()))
    assert all(torch.equal(a, b) for a, b in zip(*rows, strict=True))


def test_training_chooses_the_weight_on_validation_and_scoring_reads_the_fused_score(
    tiny_graph: RatingGraph, tmp_path: Path
) -> None:
    cfg = default_model_config(tiny_graph, rank_filter_dim=8)
    result = train(tiny_graph, tmp_path, FAST, cfg)
    chosen = result.item_filter
    assert chosen["weight"] in WEIGHTS and set(chosen["val_ndcg"]) == {str(w) for w in WEIGHTS}
    assert chosen["val_ndcg"][str(chosen["weight"])] == max(chosen["val_ndcg"].values())
    assert 0.0 <= chosen["val_ndcg_filter_alone"] <= 1.0
    model, _ = load_model(result.model_path)
    assert float(model.item_filter.weight) == chosen["weight"]  # saved in the model file
    assert not list(model.item_filter.parameters())  # closed form: nothing for gradients
    scorer = Scorer.from_model(model, tiny_graph, torch.device("cpu"))
    enc = scorer.enc
    assert enc.y_user.shape[1] == enc.y_movie.shape[1] == model.cfg.rank_dim + 8
    # The fused score is GraphSAGE's part plus the weighted channel.
    d = model.cfg.rank_dim
    users = torch.arange(tiny_graph.n_users)
    own = enc.y_user[:, :d] @ enc.y_movie[:, :d].T + enc.c_movie
    u, m, _ = tiny_graph.part("train")
    f = model.item_filter.user_vectors(u, m, tiny_graph.n_users)
    channel = chosen["weight"] * f @ model.item_filter.movie_side.T
    assert torch.allclose(model.rank_all(enc, users), own + channel, atol=1e-4)
    # Scored in two products (the channel over the filter's movies alone), it is the one
    # product of the published vectors that every other reader computes.
    outside = torch.ones(tiny_graph.n_movies, dtype=torch.bool)
    outside[enc.filter_items] = False
    assert outside.any() and not enc.y_movie[outside, d:].any()
    whole = enc.y_user @ enc.y_movie.T + enc.c_movie
    assert torch.allclose(model.rank_all(enc, users), whole, atol=1e-5)


def test_a_new_user_gets_the_channel_from_the_movies_they_rated(
    tiny_graph: RatingGraph, tmp_path: Path
) -> None:
    cfg = default_model_config(tiny_graph, rank_filter_dim=8)
    model, _ = load_model(train(tiny_graph, tmp_path, FAST, cfg).model_path)
    model.item_filter.weight.fill_(2.0)
    scorer = Scorer.from_model(model, tiny_graph, torch.device("cpu"))
    liked = np.arange(0, 10)
    with_channel = scorer.score_new_user(liked, np.full(10, 5.0)).scores
    channel = model.item_filter
    part = 2.0 * channel.user_side[torch.as_tensor(liked)].sum(0) @ channel.movie_side.T
    channel.weight.fill_(0.0)
    alone = Scorer.from_model(model, tiny_graph, torch.device("cpu"))
    without = alone.score_new_user(liked, np.full(10, 5.0)).scores
    assert np.allclose(with_channel, without + part.numpy(), atol=1e-4)


def test_a_refit_keeps_the_evaluated_weight_and_refits_the_rows(
    tiny_graph: RatingGraph, tmp_path: Path
) -> None:
    everything = dataclasses.replace(
        tiny_graph,
        edges={
            "train": torch.cat([tiny_graph.edges[p] for p in ("train", "val", "test")], dim=1),
            "val": torch.zeros(3, 0),
            "test": torch.zeros(3, 0),
        },
    )
    chosen = {"rank_filter_weight": 3.0, "rank_popularity_penalty": 0.2}
    settings = refit_settings(dataclasses.asdict(FAST), {}, 0.0, chosen)
    cfg = default_model_config(everything, rank_filter_dim=8)
    result = train(everything, tmp_path, TrainConfig(**settings), cfg, fixed_epochs=(2, 2))
    model, _ = load_model(result.model_path)
    assert float(model.item_filter.weight) == 3.0 == result.item_filter["weight"]
    assert abs(float(model.popularity_penalty) - 0.2) < 1e-7
    assert result.popularity_penalty == {"penalty": 0.2}
    u, m, _ = everything.part("train")
    fresh = ItemFilter(everything.n_movies, 8, cfg.rank_filter_reg, cfg.rank_filter_items)
    fresh.fit(u, m, everything.n_users)
    assert torch.equal(model.item_filter.movie_side, fresh.movie_side)  # on every rating


def test_no_channel_leaves_the_ranking_vectors_as_the_encoder_gives_them(
    tiny_graph: RatingGraph, tmp_path: Path
) -> None:
    cfg = default_model_config(tiny_graph, rank_filter_dim=0)
    result = train(tiny_graph, tmp_path, FAST, cfg)
    model, _ = load_model(result.model_path)
    assert model.item_filter is None and result.item_filter == {}
    enc = Scorer.from_model(model, tiny_graph, torch.device("cpu")).enc
    assert enc.y_user.shape[1] == model.cfg.rank_dim


def test_a_grid_probed_along_a_line_reads_as_each_score_probed_alone(
    tiny_graph: RatingGraph,
) -> None:
    from reelgraph.evaluate.probe import ValidationProbe

    # Small batches: the buffers are reused across batches of users, the last one shorter.
    probe = dataclasses.replace(ValidationProbe.build(tiny_graph, k=5), batch_size=7)
    gen = torch.Generator().manual_seed(0)
    base = torch.randn(tiny_graph.n_users, tiny_graph.n_movies, generator=gen)
    step = torch.randn(tiny_graph.n_users, tiny_graph.n_movies, generator=gen)
    grid = (0.0, 0.5, 3.0)
    along = probe.ndcg_along(
        lambda b, out: out.copy_(base[b]),
        lambda b, out: out.copy_(step[b]),
        grid,
        tiny_graph.n_movies,
    )
    for v in grid:
        alone = probe.ndcg(
            lambda b, out, v=v: out.copy_(base[b] + v * step[b]), tiny_graph.n_movies
        )
        assert along[v] == pytest.approx(alone, abs=1e-12)
    assert len(set(along.values())) > 1  # the step moves the list
