"""How the ranking output learns its list: the multinomial loss against hand-computed cases, the
spectral start of the id embeddings, the content alignment's gradients, the popularity penalty
chosen on validation and applied in every reader, and exact CPU repeatability."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import torch

from reelgraph.graph.messages import message_graph
from reelgraph.graph.ratings import RatingGraph
from reelgraph.graph.sparse import BipartiteAdjacency
from reelgraph.graph.spectral import spectral_basis
from reelgraph.model.recommender import GraphSAGERecommender
from reelgraph.model.saved import default_model_config, load_model
from reelgraph.model.scoring import Scorer
from reelgraph.train.config import TrainConfig
from reelgraph.train.filter_choice import PENALTIES, PENALTY_TOLERANCE
from reelgraph.train.fit import train
from reelgraph.train.losses import (
    NegativeSampler,
    RankingObjective,
    UserLists,
    content_alignment,
    log_inclusion,
    multinomial_loss,
)

FAST = TrainConfig(epochs=4, patience=100, rank_patience=100, log_every=100, rank_batch_users=8)


def test_user_lists_give_every_positive_of_the_batch_users() -> None:
    users = torch.tensor([2, 0, 2, 1, 0, 2])
    movies = torch.tensor([10, 11, 12, 13, 14, 15])
    lists = UserLists.of(users, movies, n_users=4)
    assert lists.active.tolist() == [0, 1, 2]  # user 3 has no positive
    rows, got = lists.positives(torch.tensor([2, 0]))
    assert rows.tolist() == [0, 0, 0, 1, 1]
    assert got.tolist() == [10, 12, 15, 11, 14]  # user 2's, then user 0's, in their order


def test_multinomial_loss_is_the_mean_negative_log_softmax_of_the_positives() -> None:
    user = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    movie = torch.tensor([[1.0, 1.0], [0.0, 1.0], [2.0, 0.0]])
    bias = torch.tensor([0.0, 0.5, -1.0])
    rows, cols = torch.tensor([0, 0, 1]), torch.tensor([0, 2, 1])
    logits = user @ movie.T + bias
    by_hand = [
        -(logits[r, c] - torch.logsumexp(logits[r], 0)) for r, c in zip(rows, cols, strict=True)
    ]
    assert torch.allclose(
        multinomial_loss(user, movie, bias, rows, cols), torch.stack(by_hand).mean()
    )
    # A sampled catalogue's logits lose the log of each candidate's inclusion probability.
    log_q = torch.tensor([0.0, -1.0, -2.0])
    shifted = logits - log_q
    expected = torch.stack(
        [-(shifted[r, c] - torch.logsumexp(shifted[r], 0)) for r, c in zip(rows, cols, strict=True)]
    ).mean()
    assert torch.allclose(multinomial_loss(user, movie, bias, rows, cols, log_q), expected)


def test_sampled_candidates_hold_each_positive_once_with_its_inclusion_probability() -> None:
    sampler = NegativeSampler.from_positives(torch.tensor([0, 0, 0, 1]), n_movies=50)
    objective = RankingObjective("multinomial", sampler, negatives=5, in_batch=True)
    positives = torch.tensor([0, 1, 0])
    cand = objective.multinomial_candidates(positives, torch.Generator().manual_seed(0))
    assert torch.equal(cand.movies, torch.unique(cand.movies))
    assert set(positives.tolist()) <= set(cand.movies.tolist())
    expected = 5 / 50 + 3 * sampler.popularity[cand.movies]
    assert torch.allclose(cand.log_q, torch.log(1 - torch.exp(-expected)))
    assert log_inclusion(torch.tensor([50.0])).abs().item() < 1e-6  # certain: no correction


def test_spectral_basis_is_the_top_singular_triplets_of_the_normalised_matrix() -> None:
    gen = torch.Generator().manual_seed(0)
    x = (torch.rand(12, 9, generator=gen) < 0.4).float()
    x[0, 0] = x[5, 3] = 1.0
    users, movies = torch.nonzero(x, as_tuple=True)
    # A pair listed twice counts once.
    users, movies = torch.cat([users, users[:3]]), torch.cat([movies, movies[:3]])
    du, dm = x.sum(1).clamp(min=1), x.sum(0).clamp(min=1)
    normalised = x / du.sqrt()[:, None] / dm.sqrt()[None, :]
    u_rows, m_rows = spectral_basis(users, movies, 12, 9, dim=4)
    left, s, right = torch.linalg.svd(normalised.double())
    top4 = (left[:, :4] * s[:4]) @ right[:4]  # torch returns V transposed
    assert torch.allclose((u_rows @ m_rows.T).double(), top4, atol=1e-4)
    u_wide, m_wide = spectral_basis(users, movies, 12, 9, dim=20)  # past the rank: zero columns
    assert u_wide.shape == (12, 20) and m_wide[:, 9:].abs().max() == 0
    a, b = spectral_basis(users, movies, 12, 9, dim=4)
    assert torch.equal(a, u_rows) and torch.equal(b, m_rows)  # a function of its data


def test_spectral_start_sets_ids_from_the_basis_and_identity_heads(tiny_graph: RatingGraph) -> None:
    cfg = default_model_config(tiny_graph, rank_dim=16, rank_hidden=16, rank_init_scale=0.2)
    model = GraphSAGERecommender(cfg)
    users, movies, _ = tiny_graph.part("train")
    model.spectral_start(users, movies)
    enc = model.ranking
    u_rows, m_rows = spectral_basis(users, movies, cfg.n_users, cfg.n_movies, 16)
    factor = enc.user_emb.weight[0, 0] / u_rows[0, 0]
    assert torch.allclose(enc.user_emb.weight, u_rows * factor, atol=1e-6)
    assert torch.allclose(enc.movie_emb.weight, m_rows * factor, atol=1e-6)
    ids = torch.cat([enc.user_emb.weight, enc.movie_emb.weight]).detach()
    assert math.isclose(float(ids.std()), 0.2, rel_tol=1e-4)
    assert torch.equal(enc.user_head.weight, torch.eye(16))
    assert torch.equal(enc.movie_head.weight, torch.eye(17, 16))  # the bias row starts at 0
    random = GraphSAGERecommender(dataclasses.replace(cfg, rank_init="random"))
    before = random.ranking.user_emb.weight.clone()
    random.spectral_start(users, movies)
    assert torch.equal(random.ranking.user_emb.weight, before)


def test_content_alignment_reaches_the_content_head_and_the_encoder(
    tiny_graph: RatingGraph,
) -> None:
    model = GraphSAGERecommender(default_model_config(tiny_graph, rating_members=1))
    users, movies, _ = tiny_graph.part("train")
    adj = BipartiteAdjacency.build(users, movies, tiny_graph.n_users, tiny_graph.n_movies)
    _, y_m, _, _ = model.encode_ranking(
        tiny_graph.x_user, tiny_graph.x_movie, message_graph(adj, None, None)
    )
    projected = model.ranking.content_head(tiny_graph.x_movie)
    content_alignment(y_m, projected).backward()
    assert model.ranking.content_head.weight.grad.abs().sum() > 0
    assert model.ranking.movie_emb.weight.grad.abs().sum() > 0
    assert model.rating.user_proj.weight.grad is None  # the rating encoder is not involved
    # Parallel vectors align perfectly whatever their lengths.
    v = torch.randn(5, 3)
    assert content_alignment(v, 4 * v).abs() < 1e-6


def test_multinomial_training_repeats_exactly_on_cpu(
    tiny_graph: RatingGraph, tmp_path: Path
) -> None:
    a = train(tiny_graph, tmp_path / "a", FAST, resume=False)
    b = train(tiny_graph, tmp_path / "b", FAST, resume=False)
    strip = lambda h: [{k: v for k, v in r.items() if k != "seconds"} for r in h]  # noqa: E731
    assert strip(a.history) == strip(b.history)
    assert all(r["rank_steps"] > 1 for r in a.history)  # 40 users, 8 a step
    wa, wb = (torch.load(r.model_path, weights_only=True)["state_dict"] for r in (a, b))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_the_list_trains_the_same_however_long_the_rating_output_trains(
    tiny_graph: RatingGraph, tmp_path: Path
) -> None:
    # Its own batch order, samples and dropout: a rating output that takes fewer steps, or
    # none, leaves every ranking epoch as it was.
    model_cfg = default_model_config(tiny_graph, rank_dropout=0.2)
    runs = [
        train(tiny_graph, tmp_path / name, settings, model_cfg, resume=False)
        for name, settings in (
            ("whole", FAST),
            ("fewer", dataclasses.replace(FAST, rating_batch_size=16, rating_max_steps=1)),
            ("none", dataclasses.replace(FAST, train_rating=False)),
        )
    ]
    ranking = [
        [(r["epoch"], r.get("rank_loss"), r.get("val_ndcg@20")) for r in x.history] for x in runs
    ]
    assert ranking[0] == ranking[1] == ranking[2]
    assert runs[0].metrics != runs[1].metrics  # the rating output did train otherwise
    weights = [torch.load(x.model_path, weights_only=True)["state_dict"] for x in runs]
    for name, value in weights[0].items():
        if name.startswith("ranking."):
            assert all(torch.equal(value, w[name]) for w in weights[1:]), name


def test_popularity_penalty_is_chosen_on_validation_and_served(
    tiny_graph: RatingGraph, tmp_path: Path
) -> None:
    result = train(tiny_graph, tmp_path, FAST, default_model_config(tiny_graph, rank_filter_dim=0))
    chosen = result.popularity_penalty
    curve = {float(p): v for p, v in chosen["val_ndcg"].items()}
    assert set(curve) == set(PENALTIES)
    # The strongest penalty within the tolerance of the best validation NDCG.
    within = [p for p in PENALTIES if curve[p] >= (1 - PENALTY_TOLERANCE) * max(curve.values())]
    assert chosen["penalty"] == max(within)
    model, _ = load_model(result.model_path)
    assert math.isclose(float(model.popularity_penalty), chosen["penalty"], abs_tol=1e-7)
    scorer = Scorer.from_model(model, tiny_graph, torch.device("cpu"))
    users, movies, _ = tiny_graph.part("train")
    degree = torch.bincount(movies, minlength=tiny_graph.n_movies).float()
    model.popularity_penalty.zero_()
    unpenalised = Scorer.from_model(model, tiny_graph, torch.device("cpu")).enc.c_movie
    expected = unpenalised - chosen["penalty"] * torch.log1p(degree)
    assert torch.allclose(scorer.enc.c_movie, expected, atol=1e-5)
    assert np.all(np.isfinite(scorer.enc.c_movie.numpy()))
