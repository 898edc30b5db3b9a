from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import assert_resume_repeats, outcome

from reelgraph.core.errors import TrainingError
from reelgraph.graph.ratings import RatingGraph
from reelgraph.graph.sparse import BipartiteAdjacency
from reelgraph.model.recommender import GraphSAGERecommender, message_graph
from reelgraph.model.saved import default_model_config, load_model, select_device
from reelgraph.model.scoring import Scorer, ScoringError
from reelgraph.train.checkpoints import CHECKPOINT
from reelgraph.train.config import TrainConfig, refit_settings
from reelgraph.train.finish import MODEL
from reelgraph.train.fit import train

FAST = TrainConfig(epochs=30, lr=0.01, patience=100, checkpoint_every=5, log_every=100)


def test_graph_round_trip_and_hetero_view(tiny_graph: RatingGraph, tmp_path: Path) -> None:
    g = tiny_graph
    assert g.x_user.shape == (g.n_users, 34) and g.x_movie.shape[0] == g.n_movies == 120
    assert sum(e.shape[1] for e in g.edges.values()) == 1600
    g.save(tmp_path / "g.pt")
    again = RatingGraph.load(tmp_path / "g.pt")  # weights_only=True inside: plain tensors only
    assert torch.equal(again.x_movie, g.x_movie) and torch.equal(
        again.edges["test"], g.edges["test"]
    )
    data = g.to_hetero_data()
    assert data["user", "rates", "movie"].edge_index.shape[1] == g.edges["train"].shape[1]
    assert ("movie", "rev_rates", "user") in data.edge_types  # reverse edges for both directions


def test_shapes_of_encoder_and_decoder(tiny_graph: RatingGraph) -> None:
    g = tiny_graph
    one = default_model_config(g, hidden=16, embed_dim=8, rating_members=1)
    model = GraphSAGERecommender(one)
    u, m, r = g.part("train")
    adj = BipartiteAdjacency.build(u, m, g.n_users, g.n_movies)
    enc = model.encode(g.x_user, g.x_movie, message_graph(adj, None, adj.canonical(r) - 3.5))
    assert enc.z_user.shape == (g.n_users, 8) and enc.z_movie.shape == (g.n_movies, 8)
    assert model.predict(enc, u[:5], m[:5]).shape == (5,)
    scores = model.score_all(enc, torch.arange(3))
    assert scores.shape == (3, g.n_movies)
    # The matrix form and the pair form agree: full-catalogue scoring is the same decoder.
    assert torch.allclose(
        scores[1, m[:4]], model.predict(enc, torch.full((4,), 1), m[:4]), atol=1e-5
    )


def test_loss_falls_and_the_model_beats_the_global_mean(
    tiny_graph: RatingGraph, tmp_path: Path
) -> None:
    result = train(tiny_graph, tmp_path, FAST)
    losses = [h["train_loss"] for h in result.history]
    assert np.mean(losses[-5:]) < 0.7 * np.mean(losses[:3])
    _, _, r_train = tiny_graph.part("train")
    _, _, r_val = tiny_graph.part("val")
    baseline = float(torch.sqrt(torch.mean((r_val - r_train.mean()) ** 2)))
    assert result.metrics["val"]["rmse"] < baseline
    assert set(result.metrics["test"]) == {"rmse", "mae", "mse_scaled"}


def test_same_seed_gives_identical_runs_on_cpu(tiny_graph: RatingGraph, tmp_path: Path) -> None:
    a = train(tiny_graph, tmp_path / "a", FAST)
    b = train(tiny_graph, tmp_path / "b", FAST)
    c = train(tiny_graph, tmp_path / "c", dataclasses.replace(FAST, seed=1))
    assert outcome(a.history) == outcome(b.history) and a.metrics == b.metrics
    assert outcome(a.history) != outcome(c.history)


def test_killed_run_resumes_to_the_same_result(tiny_graph: RatingGraph, tmp_path: Path) -> None:
    whole = assert_resume_repeats(tiny_graph, tmp_path, FAST, crash_after=12)
    # The item filter is fitted after training: checkpoints leave its rows out, and the resumed
    # run's model file still holds the same fitted rows as the uninterrupted one's.
    checkpoint = torch.load(tmp_path / "crash" / CHECKPOINT, weights_only=True)
    assert not [k for k in checkpoint["model"] if k.startswith("item_filter.")]
    a = torch.load(whole.model_path, weights_only=True)["state_dict"]
    b = torch.load(tmp_path / "crash" / MODEL, weights_only=True)["state_dict"]
    assert a["item_filter.movie_side"].abs().sum() > 0
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_run_the_budget_cut_goes_on_when_run_again(
    tiny_graph: RatingGraph, tmp_path: Path
) -> None:
    # Its model is a function of data and settings, not of how busy the machine was: run again,
    # a run cut by the wall-clock budget resumes from its checkpoint to the uncut run's result.
    whole = train(tiny_graph, tmp_path / "whole", FAST)
    first = train(tiny_graph, tmp_path / "cut", dataclasses.replace(FAST, max_minutes=1e-9))
    assert first.stopped_by_budget and first.epochs_run == 1 < whole.epochs_run
    again = train(tiny_graph, tmp_path / "cut", FAST)
    assert again.resumed_from_epoch == 1 and not again.stopped_by_budget
    assert outcome(again.history) == outcome(whole.history) and again.metrics == whole.metrics


def test_a_plateau_decays_each_outputs_rate_and_a_resumed_run_repeats_it(
    tiny_graph: RatingGraph, tmp_path: Path
) -> None:
    cfg = dataclasses.replace(
        FAST,
        lr_decay_after=2,
        rank_lr_decay_after=3,
        lr_decay=0.5,
        rank_patience=100,
        max_lr_decays=2,
        rating_ema=0.0,  # the last step's curve: the moving average's has no plateau this soon
    )
    whole = assert_resume_repeats(tiny_graph, tmp_path, cfg, crash_after=12)
    # Replay the rule from the logged figures: an output's rate halves after every `after`-th
    # epoch in a row without a better validation figure, and only then; when a third halving
    # falls due, the output stops instead (its figure is not validated again).
    stopped = []
    for key, start, after, metric, sign in (
        ("lr", cfg.lr, cfg.lr_decay_after, "val_rmse", 1.0),
        ("rank_lr", cfg.rank_lr, cfg.rank_lr_decay_after, "val_ndcg@20", -1.0),
    ):
        rate, best, bad, decays, last = start, float("inf"), 0, 0, None
        for row in whole.history:
            if last is not None:
                assert metric not in row, (key, row["epoch"])
                continue
            assert row[key] == pytest.approx(rate, rel=1e-12), (key, row["epoch"])
            value = sign * row[metric]
            best, bad = (value, 0) if value < best - cfg.min_delta else (best, bad + 1)
            if bad and bad % after == 0:
                if decays == cfg.max_lr_decays:
                    last = row["epoch"]
                else:
                    rate, decays = rate * cfg.lr_decay, decays + 1
        assert decays >= 1, key  # the tiny graph plateaus within 30 epochs: the rule was used
        stopped.append(last)
    assert any(stopped), "no output reached its last decay within 30 epochs"
    # A warm refit goes on at the rate each selected epoch trained with; one from scratch not.
    rows = {row["epoch"]: row for row in whole.history}
    assert whole.best_rates == {
        "lr": rows[whole.best_epoch]["lr"],
        "rank_lr": rows[whole.best_rank_epoch]["rank_lr"],
    }
    settings = {"lr": cfg.lr, "rank_lr": cfg.rank_lr, "epochs": 3}
    assert refit_settings(settings, whole.best_rates, 0.25) == {**settings, **whole.best_rates}
    assert refit_settings(settings, whole.best_rates, 0.0) == settings
    off = train(tiny_graph, tmp_path / "off", FAST)
    assert "lr" not in off.history[0]  # no decay: the history (and checkpoint folder) as before
    assert off.best_rates == {}


def test_checkpoint_round_trip_with_weights_only(tiny_graph: RatingGraph, tmp_path: Path) -> None:
    result = train(tiny_graph, tmp_path, FAST)
    raw = torch.load(result.model_path, weights_only=True)
    assert set(raw) >= {"state_dict", "config", "metrics", "history"}
    model, meta = load_model(result.model_path)
    scorer = Scorer.from_model(model, tiny_graph, torch.device("cpu"))
    u, m, r = tiny_graph.part("test")
    pred = scorer.predict(u.numpy(), m.numpy())
    rmse = float(np.sqrt(np.mean((pred - r.numpy()) ** 2)))
    assert rmse == pytest.approx(meta["metrics"]["test"]["rmse"], rel=1e-5)


def test_lists_exclude_every_rated_movie_and_least_relevant_is_the_lowest_rated(
    tiny_graph: RatingGraph, tmp_path: Path
) -> None:
    model, _ = load_model(train(tiny_graph, tmp_path, FAST).model_path)
    scorer = Scorer.from_model(model, tiny_graph, torch.device("cpu"))
    users = np.arange(tiny_graph.n_users)
    rated = {int(u): set() for u in users}
    for part in ("train", "val", "test"):
        u, m, _ = tiny_graph.part(part)
        for a, b in zip(u.tolist(), m.tolist(), strict=True):
            rated[a].add(b)
    for least in (False, True):
        for top in scorer.top_k(users, k=10, least=least, batch_size=7):
            for row, user in enumerate(top.users):
                assert not set(top.movies[row]) & rated[int(user)]  # held-out ones too
                assert np.all((top.ratings[row] >= 0.5) & (top.ratings[row] <= 5))
                if least:
                    assert np.all(np.diff(top.ratings[row]) >= -1e-6)  # lowest rating first
                else:
                    assert np.all(np.diff(top.scores[row]) <= 1e-6)  # best first
    low = next(scorer.top_k(users[:1], k=5, least=True))
    high = next(scorer.top_k(users[:1], k=5))
    assert low.ratings.mean() < high.ratings.mean()


def test_inductive_scoring_of_an_unseen_user(tiny_graph: RatingGraph, tmp_path: Path) -> None:
    model, _ = load_model(train(tiny_graph, tmp_path, FAST).model_path)
    scorer = Scorer.from_model(model, tiny_graph, torch.device("cpu"))
    liked = np.arange(0, 10)
    fan = scorer.score_new_user(liked, np.full(10, 5.0)).ratings
    hater = scorer.score_new_user(liked, np.full(10, 0.5)).ratings
    assert fan.shape == (tiny_graph.n_movies,) and np.isfinite(fan).all()
    assert 0.5 <= fan.min() and fan.max() <= 5.0
    assert fan.mean() > hater.mean()  # what they rated moves their predictions, without retraining
    with pytest.raises(ScoringError):
        scorer.score_new_user(np.array([], dtype=np.int64), np.array([]))


def test_device_selection() -> None:
    assert select_device("cpu").type == "cpu"
    assert select_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(TrainingError, match="CUDA is not available"):
            select_device("cuda")


def test_non_finite_loss_stops_with_a_clear_error(tiny_graph: RatingGraph, tmp_path: Path) -> None:
    broken = dataclasses.replace(tiny_graph, x_movie=tiny_graph.x_movie.clone())
    broken.x_movie[0, 0] = float("nan")
    with pytest.raises(TrainingError, match="not finite"):
        train(broken, tmp_path, FAST)


def test_csr_sage_layer_matches_pyg_sageconv_forward_and_gradient() -> None:
    from torch_geometric.nn import SAGEConv

    from reelgraph.graph.sparse import BipartiteAdjacency
    from reelgraph.model.layers import SAGEConvCSR

    torch.manual_seed(0)
    n_u, n_m, e = 7, 5, 15
    u, m = torch.randint(0, n_u, (e,)), torch.randint(0, n_m, (e,))
    pairs = torch.unique(u * n_m + m)
    u, m = pairs // n_m, pairs % n_m
    adj = BipartiteAdjacency.build(u, m, n_u, n_m)
    to_movie, _ = adj.message_matrices(None)
    x_u = torch.randn(n_u, 4, requires_grad=True)
    x_m = torch.randn(n_m, 4)
    ours = SAGEConvCSR((4, 4), 3, aggr="sum")
    pyg = SAGEConv((4, 4), 3, aggr="mean")
    pyg.load_state_dict(ours.state_dict())
    out = ours((x_u, x_m), to_movie)
    ref = pyg((x_u, x_m), torch.stack([u, m]))  # stock PyG: mean over edge_index
    assert torch.allclose(out, ref, atol=1e-6)
    g_ours = torch.autograd.grad(out.square().sum(), x_u)[0]
    g_ref = torch.autograd.grad(ref.square().sum(), x_u)[0]
    assert torch.allclose(g_ours, g_ref, atol=1e-5)


@pytest.mark.parametrize("column_block", [None, 1, 2, 3])
def test_message_matrices_match_a_dense_masked_mean_in_value_and_gradient(
    column_block: int | None,
) -> None:
    """Whatever the column blocks (CPU splits products by column range) and whatever order the
    edges arrive in, each direction is the mean over the kept edges, scaled per edge."""
    from reelgraph.graph.sparse import BipartiteAdjacency

    gen = torch.Generator().manual_seed(0)
    n_u, n_m = 7, 5
    pairs = torch.randperm(n_u * n_m, generator=gen)[:20]  # unique pairs, in no order
    u, m = pairs // n_m, pairs % n_m
    scale = torch.randn(20, generator=gen)
    adj = BipartiteAdjacency.build(u, m, n_u, n_m, column_block=column_block)
    assert torch.equal(adj.users, u[adj.order]) and torch.equal(adj.movies, m[adj.order])
    keep = torch.rand(20, generator=gen) < 0.7  # canonical order, as training draws it
    to_movie, to_user = adj.message_matrices(keep, adj.canonical(scale))

    w = torch.zeros(n_u, n_m, dtype=torch.float64)
    k = torch.zeros(n_u, n_m, dtype=torch.float64)
    w[adj.users, adj.movies] = (keep * adj.canonical(scale)).double()
    k[adj.users, adj.movies] = keep.double()
    dense_to_movie = w.T / k.sum(0).clamp(min=1)[:, None]
    dense_to_user = w / k.sum(1).clamp(min=1)[:, None]
    for pair, dense, n_src in ((to_movie, dense_to_movie, n_u), (to_user, dense_to_user, n_m)):
        x = torch.randn(n_src, 3, generator=gen, requires_grad=True)
        out = pair @ x
        ref = dense.float() @ x
        assert torch.allclose(out, ref, atol=1e-6)
        g_out = torch.randn(out.shape, generator=gen)
        (grad,) = torch.autograd.grad(out, x, g_out)
        (grad_ref,) = torch.autograd.grad(ref, x, g_out)
        assert torch.allclose(grad, grad_ref, atol=1e-6)


@pytest.mark.parametrize("aggr", ["mean", "sym"])
def test_first_layer_aggregating_raw_features_is_the_same_model(
    tiny_graph: RatingGraph, aggr: str
) -> None:
    """Layer 0 computes A @ (x W^T + b + E) as (A @ [x, 1]) @ [W, b]^T + A @ E: same outputs and
    gradients as aggregating the projected states, and a reused graph's kept aggregates never
    go stale."""
    g = tiny_graph
    torch.manual_seed(0)
    cfg = default_model_config(
        g, hidden=16, embed_dim=8, rank_hidden=16, rank_dim=8, rank_aggr=aggr, rating_members=1
    )
    model = GraphSAGERecommender(cfg).eval()
    enc_r = model.ranking
    u, m, r = g.part("train")
    adj = BipartiteAdjacency.build(u, m, g.n_users, g.n_movies, column_block=7)
    graph = message_graph(adj, None, adj.canonical(r) - 3.5, reuse_inputs=True)

    weights = {}

    def outputs_and_grads(enc) -> list[torch.Tensor]:  # noqa: ANN001
        # Random weights: a sum of squares of unit ranking vectors would be a constant.
        outputs = (enc.z_user, enc.y_movie, enc.b_movie)
        for i, t in enumerate(outputs):
            weights.setdefault(i, torch.randn(t.shape, generator=torch.Generator().manual_seed(i)))
        loss = sum((t * weights[i]).sum() for i, t in enumerate(outputs))
        params = [
            model.rating.user_proj.weight,
            model.rating.movie_proj.bias,
            enc_r.user_proj.weight,
            enc_r.movie_emb.weight,
        ]
        return [enc.z_user, enc.y_movie, enc.b_movie, *torch.autograd.grad(loss, params)]

    fast = outputs_and_grads(model.encode(g.x_user, g.x_movie, graph))
    again = outputs_and_grads(model.encode(g.x_user, g.x_movie, graph))  # kept aggregates
    for encoder in (model.rating, enc_r):  # the textbook order
        ids = encoder.has_ids
        encoder._first_layer_aggregates = lambda x_u, x_m, gr, e=encoder, ids=ids: gr.aggregate(
            e.user_proj(x_u) + (e.user_emb.weight if ids else 0),
            e.movie_proj(x_m) + (e.movie_emb.weight if ids else 0),
            e.aggr,
            e.relations,
        )
    slow = outputs_and_grads(model.encode(g.x_user, g.x_movie, graph))
    for a, b, c in zip(fast, again, slow, strict=True):
        assert torch.equal(a, b)
        assert torch.allclose(a, c, atol=1e-5, rtol=1e-4)
    for encoder in (model.rating, enc_r):
        del encoder._first_layer_aggregates
    other = g.x_user + 1.0  # new features: the kept aggregates must not be used for them
    fresh = message_graph(adj, None, adj.canonical(r) - 3.5)
    with torch.no_grad():
        got = model.encode(other, g.x_movie, graph).z_user
        assert torch.allclose(got, model.encode(other, g.x_movie, fresh).z_user, atol=1e-6)
        assert not torch.allclose(got, fast[0], atol=1e-3)


def test_each_output_comes_from_its_own_best_validation_epoch(
    tiny_graph: RatingGraph, tmp_path: Path
) -> None:
    result = train(tiny_graph, tmp_path, FAST)
    ndcg = [h["val_ndcg@20"] for h in result.history if "val_ndcg@20" in h]
    rmse = [h["val_rmse"] for h in result.history if "val_rmse" in h]
    assert result.best_epoch == 1 + int(np.argmin(rmse))
    assert result.best_rank_epoch == 1 + int(np.argmax(ndcg))
    ckpt = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    model, meta = load_model(result.model_path)
    assert meta["best_epoch"] == result.best_epoch
    assert meta["best_rank_epoch"] == result.best_rank_epoch
    for encoder, key in ((model.rating, "rating"), (model.ranking, "ranking")):
        for name, value in ckpt["state"][key]["snapshot"].items():
            assert torch.equal(encoder.state_dict()[name], value)
    # The rating snapshot alone decides predicted ratings, the ranking one the scores.
    scorer = Scorer.from_model(model, tiny_graph, torch.device("cpu"))
    other = GraphSAGERecommender(model.cfg)
    other.rating.load_state_dict(ckpt["state"]["rating"]["snapshot"])
    other.rating_basis.load_state_dict(
        model.rating_basis.state_dict()
    )  # fixed before the first epoch
    ref = Scorer.from_model(other, tiny_graph, torch.device("cpu"))
    users = torch.arange(4)
    assert torch.allclose(
        model.score_all(scorer.enc, users), other.score_all(ref.enc, users), atol=1e-5
    )
    assert not torch.allclose(
        model.rank_all(scorer.enc, users), other.rank_all(ref.enc, users), atol=1e-3
    )


def test_pair_dot_matches_autograd_of_the_plain_gather() -> None:
    from reelgraph.model import layers as model_module

    gen = torch.Generator().manual_seed(0)
    a = torch.randn(7, 3, dtype=torch.float64, generator=gen, requires_grad=True)
    b = torch.randn(5, 3, dtype=torch.float64, generator=gen, requires_grad=True)
    i = torch.randint(0, 7, (40,), generator=gen)
    j = torch.randint(0, 5, (40,), generator=gen)
    old = model_module._PairDot.CHUNK
    model_module._PairDot.CHUNK = 16  # several chunks, the last one partial
    try:
        assert torch.autograd.gradcheck(model_module.pair_dot, (a, b, i, j))
        w = torch.randn(40, dtype=torch.float64, generator=gen)
        ga, gb = torch.autograd.grad((model_module.pair_dot(a, b, i, j) * w).sum(), (a, b))
        ra, rb = torch.autograd.grad(((a[i] * b[j]).sum(-1) * w).sum(), (a, b))
        assert torch.allclose(ga, ra) and torch.allclose(gb, rb)
    finally:
        model_module._PairDot.CHUNK = old


def _every_rating_as_train(graph: RatingGraph) -> RatingGraph:
    """The refit's graph: the same users and movies, every rating in the train part."""
    both = torch.cat([graph.edges[p] for p in ("train", "val", "test")], dim=1)
    empty = torch.zeros(3, 0)
    return dataclasses.replace(graph, edges={"train": both, "val": empty, "test": empty})


def test_warm_refit_starts_from_the_evaluated_weights_and_trains_on_every_rating(
    tiny_graph: RatingGraph, tiny_model: Path, tmp_path: Path
) -> None:
    from reelgraph.train.loop import Trainer

    everything = _every_rating_as_train(tiny_graph)
    evaluated, _ = load_model(tiny_model)
    cfg = default_model_config(everything)
    trainer = Trainer(everything, tmp_path / "t", FAST, cfg, (2, 2), warm_start=tiny_model)
    start = trainer.model.state_dict()
    for name, weights in evaluated.state_dict().items():
        assert torch.equal(start[name], weights), name
    # The refit's message graph holds every rating, validation and test ones included.
    assert trainer.adj.users.numel() == sum(tiny_graph.edges[p].shape[1] for p in tiny_graph.edges)
    r = train(everything, tmp_path / "r", FAST, cfg, fixed_epochs=(2, 2), warm_start=tiny_model)
    assert r.epochs_run == 2 and (r.best_epoch, r.best_rank_epoch) == (2, 2)
    refit, _ = load_model(r.model_path)
    moved = [not torch.equal(refit.state_dict()[n], w) for n, w in start.items()]
    assert any(moved)


def test_warm_start_refuses_a_model_of_other_movies(
    tiny_graph: RatingGraph, tiny_model: Path, tmp_path: Path
) -> None:
    other = dataclasses.replace(tiny_graph, movie_ids=tiny_graph.movie_ids + 1)
    with pytest.raises(TrainingError, match="other users or movies"):
        train(other, tmp_path, FAST, fixed_epochs=(1, 1), warm_start=tiny_model)


def test_refit_epochs_are_a_share_of_the_chosen_ones_or_all_of_them() -> None:
    from reelgraph.train.config import refit_epochs

    assert refit_epochs(41, 34, 0.0) == (41, 34)
    assert refit_epochs(41, 34, 0.25) == (11, 9)
    assert refit_epochs(2, 1, 0.1) == (1, 1)  # at least one epoch
    assert refit_epochs(8, None, 0.5) == (4, None)  # no ranking encoder
