"""The ranking path: loss and negatives, sampled neighbourhoods, tuning's isolation from the
test split, and the embedding figure's number."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from reelgraph.core.settings import DEFAULT_BASELINES
from reelgraph.graph.ratings import RatingGraph
from reelgraph.graph.sampling import Block, NeighbourIndex
from reelgraph.model.recommender import message_graph
from reelgraph.model.saved import default_model_config
from reelgraph.train.config import TrainConfig
from reelgraph.train.loop import Trainer
from reelgraph.train.losses import NegativeSampler, RankingBatch, RankingObjective
from reelgraph.train.steps import local


def _vectors(n_users: int, n_movies: int, d: int = 4, seed: int = 0):  # noqa: ANN202
    gen = torch.Generator().manual_seed(seed)
    u = torch.randn(n_users, d, generator=gen, dtype=torch.float64, requires_grad=True)
    m = torch.randn(n_movies, d, generator=gen, dtype=torch.float64, requires_grad=True)
    c = torch.randn(n_movies, generator=gen, dtype=torch.float64, requires_grad=True)
    return u, m, c


def _loss(objective: RankingObjective, u, m, c, batch: RankingBatch, cand) -> torch.Tensor:  # noqa: ANN001
    return objective.loss(
        u[batch.users],
        m[batch.movies],
        c[batch.movies],
        m[cand.movies],
        c[cand.movies],
        batch,
        cand,
    )


def test_full_softmax_is_the_cross_entropy_over_the_catalogue() -> None:
    sampler = NegativeSampler.from_positives(torch.tensor([0, 1, 2, 2]), 6)
    objective = RankingObjective("softmax", sampler, negatives=6, in_batch=True)
    u, m, c = _vectors(3, 6)
    batch = RankingBatch(torch.tensor([0, 1, 2]), torch.tensor([2, 0, 5]))
    cand = objective.candidates(batch, torch.Generator().manual_seed(0))
    loss = _loss(objective, u, m, c, batch, cand)
    logits = u[batch.users] @ m.T + c
    assert torch.allclose(loss, torch.nn.functional.cross_entropy(logits, batch.movies))
    # Gradients reach the user, the positive and the other movies, and are finite.
    gu, gm = torch.autograd.grad(loss, (u, m))
    assert torch.isfinite(gu).all() and torch.isfinite(gm).all() and gm.abs().sum(1).gt(0).all()


def test_sampled_softmax_gradient_and_accidental_hits() -> None:
    sampler = NegativeSampler.from_positives(torch.tensor([0, 0, 1, 3, 4]), 50)
    objective = RankingObjective("softmax", sampler, negatives=8, in_batch=True)
    u, m, c = _vectors(4, 50)
    batch = RankingBatch(torch.tensor([0, 1, 2, 3]), torch.tensor([0, 0, 1, 3]))
    cand = objective.candidates(batch, torch.Generator().manual_seed(1))
    assert cand.movies.numel() == 8 + 4  # uniform draws plus the batch's positives
    loss = _loss(objective, u, m, c, batch, cand)
    assert torch.autograd.gradcheck(lambda uu: _loss(objective, uu, m, c, batch, cand), (u,))
    # Raising a positive's score lowers the loss.
    with torch.no_grad():
        c2 = c.clone()
        c2[batch.movies] += 1.0
    assert _loss(objective, u, m, c2, batch, cand) < loss
    # A candidate equal to a row's positive is never that row's negative: moving its
    # (candidate) score cannot change the loss of rows whose positive it is, beyond the positive.
    hits = cand.movies[None, :] == batch.movies[:, None]
    assert hits.any()  # in-batch candidates include each row's own positive
    logits_grad = torch.autograd.grad(loss, c)[0]
    assert torch.isfinite(logits_grad).all()


def test_logq_correction_is_the_log_expected_count() -> None:
    sampler = NegativeSampler.from_positives(torch.tensor([0, 0, 0, 1]), 4)
    got = sampler.log_expected_count(torch.tensor([0, 1, 2]), n_uniform=8, n_in_batch=4)
    expected = torch.log(torch.tensor([8 / 4 + 4 * 0.75, 8 / 4 + 4 * 0.25, 8 / 4 + 0.0]))
    assert torch.allclose(got, expected)


def test_hard_negative_bpr_never_takes_the_positive() -> None:
    sampler = NegativeSampler.from_positives(torch.tensor([0, 1]), 3)
    objective = RankingObjective("bpr", sampler, negatives=20, in_batch=False)
    u, m, c = _vectors(2, 3)
    with torch.no_grad():
        c[1] = 100.0  # movie 1 scores highest for everyone: the hardest negative, unless positive
    batch = RankingBatch(torch.tensor([0, 1]), torch.tensor([1, 0]))
    cand = objective.candidates(batch, torch.Generator().manual_seed(0))
    loss = _loss(objective, u, m, c, batch, cand)
    # Row 0's positive is movie 1: its hardest negative is another movie, so its loss is the
    # usual softplus of a small margin; row 1 (positive 0) meets movie 1 and loses badly.
    pos = (u[batch.users] * m[batch.movies]).sum(-1) + c[batch.movies]
    scores = torch.einsum("bd,bkd->bk", u[batch.users], m[cand.movies]) + c[cand.movies]
    hardest = scores.masked_fill(cand.movies == batch.movies[:, None], -math.inf).max(1).values
    expected = torch.nn.functional.softplus(hardest - pos).mean()
    assert torch.allclose(loss, expected)
    assert (hardest[0] < 50).item() and (hardest[1] > 50).item()


@pytest.mark.parametrize(
    "model_settings",
    [
        {},
        {"rank_aggr": "sym", "rank_rating_messages": True},
        {"rank_combine": "last", "rank_temperature": 0.0, "rank_id_embeddings": False},
        {"rating_members": 2},
    ],
)
def test_a_block_with_every_neighbour_computes_what_the_full_graph_does(
    tiny_graph: RatingGraph, tmp_path: Path, model_settings: dict
) -> None:
    g = tiny_graph
    u, m, _ = g.part("train")
    widest = int(max(torch.bincount(u).max(), torch.bincount(m).max()))
    cfg = TrainConfig(device="cpu", sample_above=0, fanouts=(widest, widest))
    trainer = Trainer(g, tmp_path, cfg, default_model_config(g, **model_settings), None)
    model = trainer.model.eval()
    gen = torch.Generator().manual_seed(0)
    keep = torch.rand(trainer.t_user.numel(), generator=gen) < 0.7
    graph = message_graph(trainer.adj, keep, trainer.deviation, reuse_inputs=True)
    users = torch.unique(torch.randint(0, g.n_users, (15,), generator=gen))
    movies = torch.unique(torch.randint(0, g.n_movies, (25,), generator=gen))
    dev = trainer.deviation_canonical
    block = Block.build(trainer.neighbours, users, movies, cfg.fanouts, keep, gen, True, dev)
    y_u, y_m, c_m = model.encode_ranking_block(g.x_user, g.x_movie, graph, block)
    full_u, full_m, full_c, _ = model.encode_ranking(g.x_user, g.x_movie, graph)
    assert torch.allclose(y_u, full_u[users], atol=1e-5)
    assert torch.allclose(y_m, full_m[movies], atol=1e-5)
    assert torch.allclose(c_m, full_c[movies], atol=1e-5)
    z = model.encode_rating_block(g.x_user, g.x_movie, graph, block)
    full = model.encode_rating(g.x_user, g.x_movie, graph)
    assert torch.allclose(z[0], full[0][users], atol=1e-5)
    assert torch.allclose(z[3], full[3][movies], atol=1e-5)
    # Each rating member's stars of pairs among the seeds, from the block and from the graph.
    pu, pm = users.repeat_interleave(movies.numel()), movies.repeat(users.numel())
    lu, lm = local(block.users, pu), local(block.movies, pm)
    from_block = model.member_predictions(g.x_user, g.x_movie, graph, lu, lm, block)
    from_graph = model.member_predictions(g.x_user, g.x_movie, graph, pu, pm)
    assert from_block.shape[0] == model.cfg.rating_members
    assert torch.allclose(from_block, from_graph, atol=1e-5)
    # Few neighbours: an estimate, not the exact aggregate.
    small = Block.build(trainer.neighbours, users, movies, (2, 2), keep, gen, True, dev)
    y_small = model.encode_ranking_block(g.x_user, g.x_movie, graph, small)[0]
    assert torch.isfinite(y_small).all() and not torch.allclose(y_small, y_u, atol=1e-4)


def test_sampled_neighbours_come_from_the_message_edges_only(tiny_graph: RatingGraph) -> None:
    from reelgraph.graph.sampling import sample_neighbours
    from reelgraph.graph.sparse import BipartiteAdjacency

    u, m, _ = tiny_graph.part("train")
    adj = BipartiteAdjacency.build(u, m, tiny_graph.n_users, tiny_graph.n_movies)
    index = NeighbourIndex.build(adj)
    gen = torch.Generator().manual_seed(0)
    keep = torch.rand(u.numel(), generator=gen) < 0.5
    seeds = torch.arange(tiny_graph.n_users)
    nbr, slot, valid = sample_neighbours(
        index.user_ptr, index.user_nbr, index.user_slot, seeds, 3, keep, gen
    )
    assert keep[slot[valid]].all()
    assert torch.equal(adj.movies[slot[valid]], nbr[valid])  # the slot is that edge
    assert torch.equal(adj.users[slot[valid]], seeds[:, None].expand_as(nbr)[valid])


@pytest.mark.parametrize("loss", ["multinomial", "softmax"])
def test_sampled_training_runs_and_repeats_exactly(
    tiny_graph: RatingGraph, tmp_path: Path, loss: str
) -> None:
    from reelgraph.train.fit import train

    cfg = TrainConfig(
        epochs=4,
        sample_above=0,
        fanouts=(5, 5),
        rank_loss=loss,
        rank_batch_users=8,
        rank_batch_size=64,
        rank_negatives=32,
        rating_batch_size=128,
        checkpoint_every=100,
        log_every=100,
    )
    a = train(tiny_graph, tmp_path / "a", cfg)
    b = train(tiny_graph, tmp_path / "b", cfg)
    strip = lambda h: [{k: v for k, v in r.items() if k != "seconds"} for r in h]  # noqa: E731
    assert strip(a.history) == strip(b.history)
    assert all(r["rank_steps"] > 1 for r in a.history)
    assert np.isfinite(a.metrics["val"]["rmse"])


def test_tuning_never_reads_the_test_split(tiny_graph: RatingGraph) -> None:
    from reelgraph.tune.search import tune, without_test

    assert without_test(tiny_graph).edges["test"].shape[1] == 0
    flipped = tiny_graph.edges["test"].clone()
    flipped[2] = 5.5 - flipped[2]  # every test rating turned around: relevance changes everywhere
    scrambled = dataclasses.replace(tiny_graph, edges={**tiny_graph.edges, "test": flipped})
    a = tune("ease", tiny_graph, trials=3, seed=0)
    b = tune("ease", scrambled, trials=3, seed=0)
    assert [t.value for t in a.trials] == [t.value for t in b.trials]
    assert [t.params for t in a.trials] == [t.params for t in b.trials]
    assert a.best_value == max(t.value for t in a.trials)


def test_genre_agreement_reads_structure() -> None:
    from reelgraph.serve.embedding_quality import genre_agreement

    genres = ["Drama", "Comedy", "Horror|Thriller", "Drama|Romance"] * 50
    onehot = {"Drama": 0, "Comedy": 1, "Horror|Thriller": 2, "Drama|Romance": 3}
    rng = np.random.default_rng(0)
    clustered = np.eye(4)[[onehot[g] for g in genres]] + rng.normal(scale=0.05, size=(200, 4))
    noise = rng.normal(size=(200, 4))
    assert genre_agreement(clustered, genres) > 0.95
    assert genre_agreement(noise, genres) < 0.6


def test_cosine_neighbours_are_exact_and_place_the_row_itself_as_asked() -> None:
    """The neighbours genre agreement counts and UMAP lays out: the brute-force cosine order,
    never the row itself, or the row itself first (cosine 1) for UMAP."""
    from reelgraph.serve.embedding_quality import cosine_neighbours

    rng = np.random.default_rng(2)
    vectors = rng.normal(size=(300, 6))
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    sims = unit @ unit.T
    np.fill_diagonal(sims, -np.inf)
    want = np.argsort(-sims, axis=1, kind="stable")[:, :5]
    queries = np.array([0, 7, 299])
    got, cos = cosine_neighbours(vectors, 5, queries, chunk=2)
    np.testing.assert_array_equal(got, want[queries])
    np.testing.assert_allclose(cos, np.take_along_axis(sims[queries], want[queries], 1), atol=1e-6)
    mine, cos = cosine_neighbours(vectors, 6, self_first=True)
    np.testing.assert_array_equal(mine[:, 0], np.arange(300))
    np.testing.assert_array_equal(mine[:, 1:], want)
    assert (cos[:, 0] == 1.0).all()


def test_genre_agreement_over_a_sample_of_movies_estimates_the_whole() -> None:
    """Large catalogues look up the neighbours of a seeded sample of movies (among all of
    them): an estimate near the figure over every movie, the same for the same seed."""
    from reelgraph.serve.embedding_quality import genre_agreement

    rng = np.random.default_rng(1)
    genres = [["Drama", "Comedy", "Horror", "Drama|Romance"][i] for i in rng.integers(0, 4, 2000)]
    centre = {g: rng.normal(size=8) for g in set(genres)}
    vectors = np.stack([centre[g] for g in genres]) + rng.normal(scale=1.5, size=(2000, 8))
    whole = genre_agreement(vectors, genres, max_queries=None)
    sampled = genre_agreement(vectors, genres, max_queries=500, seed=3)
    assert 0.3 < whole < 0.95  # neither trivial nor perfect: the sample has something to miss
    assert sampled != whole and abs(sampled - whole) < 0.05
    assert genre_agreement(vectors, genres, max_queries=500, seed=3) == sampled
    assert genre_agreement(vectors, genres, max_queries=2000) == whole  # all of them: exact


def test_ease_scores_are_its_closed_form(tiny_graph: RatingGraph) -> None:
    """EASE's sparse Gram and sparse row products give Steck's closed form, computed densely:
    B = I - P / diag(P), P = (X'X + lambda I)^-1 over the modelled movies; every other movie
    ranks last."""
    from reelgraph.evaluate.item_filters import EASE, EASEConfig

    cfg = EASEConfig(reg=7.0, max_items=40)
    model = EASE(tiny_graph, cfg)
    u, m, _ = (t.numpy() for t in tiny_graph.part("train"))
    items = model.items.numpy()
    x = np.zeros((tiny_graph.n_users, tiny_graph.n_movies))
    x[u, m] = 1.0
    x = x[:, items]
    p = np.linalg.inv(x.T @ x + cfg.reg * np.eye(items.size))
    b = -p / np.diag(p)[None, :]
    np.fill_diagonal(b, 0.0)
    users = torch.tensor([5, 0, 3])
    got = model.score(users).numpy()
    np.testing.assert_allclose(got[:, items], x[users.numpy()] @ b, rtol=1e-4, atol=1e-5)
    others = np.setdiff1d(np.arange(tiny_graph.n_movies), items)
    assert others.size and (got[:, others] < got[:, items].min()).all()


@pytest.mark.parametrize("name", ["bpr_mf", "ials", "lightgcn", "ease", "rp3beta", "gf_cf"])
def test_ranking_baselines_rank_better_than_chance(tiny_graph: RatingGraph, name: str) -> None:
    from reelgraph.evaluate import baselines
    from reelgraph.evaluate.protocol import evaluate

    small = {"bpr_mf": {"epochs": 30}, "lightgcn": {"epochs": 10}, "gf_cf": {"k": 16}}
    rec = baselines.build_baseline(name, tiny_graph, small.get(name, {}))
    result = evaluate(rec, tiny_graph, "val", (10,))

    class Random:
        name = "random"

        def score(self, users: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
            return torch.rand(
                users.numel(), tiny_graph.n_movies, generator=torch.Generator().manual_seed(0)
            )

        def predict(self, users: torch.Tensor, movies: torch.Tensor) -> None:
            return None

    chance = evaluate(Random(), tiny_graph, "val", (10,))
    assert result.metrics[("recall", 10)] > chance.metrics[("recall", 10)]
    with pytest.raises(ValueError, match="no setting"):
        baselines.build_baseline(name, tiny_graph, {"not_a_setting": 1})


@pytest.mark.parametrize("name", ["bpr_mf", "lightgcn"])
def test_a_time_budget_stops_epoch_baselines_and_says_so(
    tiny_graph: RatingGraph, name: str
) -> None:
    from reelgraph.evaluate import baselines

    rec = baselines.build_baseline(name, tiny_graph, {"epochs": 5, "max_minutes": 0.0})
    assert rec.stopped_by_budget and len(rec.history) == 1
    rec = baselines.build_baseline(name, tiny_graph, {"epochs": 2, "patience": 10})
    assert not rec.stopped_by_budget and len(rec.history) == 2


@pytest.mark.parametrize("name", DEFAULT_BASELINES)  # every baseline
def test_scores_written_into_the_buffer_are_the_models_own(
    tiny_graph: RatingGraph, name: str
) -> None:
    from reelgraph.evaluate import baselines
    from reelgraph.model.top_k import scores_into

    quick = {"mf": {"epochs": 2}, "lightgcn": {"epochs": 2}, "bpr_mf": {"epochs": 2}}
    rec = baselines.build_baseline(name, tiny_graph, quick.get(name, {}))
    users = torch.tensor([3, 0, 7])
    own = rec.score(users).clone()
    buf = torch.full((3, tiny_graph.n_movies), float("nan"))
    into = scores_into(rec)(users, buf)
    assert into.data_ptr() == buf.data_ptr()
    torch.testing.assert_close(into, own)
    buf.fill_(float("nan"))  # a reused buffer: nothing of the last batch may remain
    torch.testing.assert_close(scores_into(rec)(users, buf), own)


def test_graphsage_scores_written_into_the_buffer_are_its_own(
    tiny_graph: RatingGraph, tiny_model
) -> None:
    from reelgraph.evaluate.baselines import GraphSAGEAdapter
    from reelgraph.model.saved import load_model
    from reelgraph.model.scoring import Scorer
    from reelgraph.model.top_k import scores_into

    model, _ = load_model(tiny_model)
    rec = GraphSAGEAdapter(Scorer.from_model(model, tiny_graph, torch.device("cpu")))
    users = torch.tensor([1, 2])
    buf = torch.full((2, tiny_graph.n_movies), float("nan"))
    torch.testing.assert_close(scores_into(rec)(users, buf), rec.score(users))
