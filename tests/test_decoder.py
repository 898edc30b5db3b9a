"""One decoder, many callers: the published lists (torch, at publish time), the read API and
the explorer (numpy, from the published vectors), the model's own scores, and cold start must
agree on every user's scores, predicted ratings and explanations."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient

from reelgraph.core.run_layout import RunLayout
from reelgraph.explorer.app import create_app
from reelgraph.graph.ratings import RatingGraph
from reelgraph.model import decoder
from reelgraph.model.scoring import Scorer
from warehouse.read import Reader, RecommendQuery

TOL = 1e-4


def published_lists(warehouse: Path, run_id: str, table: str) -> dict[int, list[tuple]]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute(
            f"""SELECT user_id, movie_id, score, predicted_rating, because_movie_id
                FROM marts.{table} WHERE run_id = ? ORDER BY user_id, rank""",
            [run_id],
        ).fetchall()
    out: dict[int, list[tuple]] = {}
    for user, *rest in rows:
        out.setdefault(user, []).append(tuple(rest))
    return out


def assert_lists_match(got: list[dict], want: list[tuple], what: str) -> None:
    assert [g["movie_id"] for g in got] == [w[0] for w in want], what
    for g, (_, score, rating, because) in zip(got, want, strict=True):
        assert abs(g["score"] - score) < TOL and abs(g["predicted_rating"] - rating) < TOL, what
        assert g["because_movie_id"] == because, what


def assert_reader_matches_marts(warehouse: Path, run_id: str, users: int | None = None) -> int:
    """Every (or the first `users`) published user's top-K and least-relevant K, decoded again
    by the read API from the published vectors; returns how many users were compared."""
    compared = 0
    with Reader(warehouse) as reader:
        for least, table in ((False, "recommendations"), (True, "least_relevant")):
            lists = published_lists(warehouse, run_id, table)
            for user, want in list(lists.items())[:users]:
                q = RecommendQuery(user_id=user, k=len(want), least=least, run_id=run_id)
                assert_lists_match(reader.recommend(q), want, f"user {user} {table}")
                compared += not least
    return compared


def test_read_api_decodes_every_published_list_exactly(pipeline_run: dict) -> None:
    run_id = pipeline_run["result"]["run_id"]
    assert assert_reader_matches_marts(pipeline_run["warehouse"], run_id) >= 30  # every user


def test_explorer_serves_what_was_published(pipeline_run: dict) -> None:
    run_id = pipeline_run["result"]["run_id"]
    client = TestClient(
        create_app(pipeline_run["warehouse"], pipeline_run["outputs"]), base_url="http://127.0.0.1"
    )
    lists = published_lists(pipeline_run["warehouse"], run_id, "recommendations")
    for user, want in list(lists.items())[:20]:
        r = client.get("/api/recommend", params={"user": user, "k": len(want), "run": run_id})
        assert r.status_code == 200, r.text
        assert_lists_match(r.json()["items"], want, f"explorer, user {user}")


def test_the_model_scores_every_movie_as_the_published_vectors_do(pipeline_run: dict) -> None:
    """The model's scores over the whole catalogue (torch) equal the numpy decoder's over the
    vectors the run published, for every user; the lists are the model's top-K."""
    run_id = pipeline_run["result"]["run_id"]
    layout = RunLayout.of(pipeline_run["outputs"], run_id)
    with duckdb.connect(str(pipeline_run["warehouse"]), read_only=True) as con:
        (graph_path,) = con.execute(
            "SELECT graph_path FROM ops.runs WHERE run_id = ?", [run_id]
        ).fetchone()
    scorer = Scorer.load(layout.model, RatingGraph.load(graph_path), "cpu")
    enc, g = scorer.enc, scorer.graph
    users = torch.arange(g.n_users)
    model_rank = scorer.model.rank_all(enc, users).numpy()
    model_rating = scorer.model.clamp(scorer.model.score_all(enc, users)).numpy()
    n = lambda t: t.float().numpy()  # noqa: E731
    rank = decoder.ranking_scores(n(enc.y_user), n(enc.y_movie), n(enc.c_movie))
    rating = decoder.clamp_rating(
        decoder.rating_scores(
            n(enc.z_user),
            n(enc.b_user),
            n(enc.z_movie),
            n(enc.b_movie),
            scorer.model.cfg.global_mean,
        )
    )
    np.testing.assert_allclose(model_rank, rank, atol=TOL)
    np.testing.assert_allclose(model_rating, rating, atol=TOL)
    lists = published_lists(pipeline_run["warehouse"], run_id, "recommendations")
    ids = g.movie_ids.numpy()
    for u in range(0, g.n_users, 7):
        user = int(g.user_ids[u])
        top = [w[0] for w in lists[user]]
        masked = rank[u].copy()
        masked[scorer.rated.of(u)] = -np.inf
        assert list(ids[np.argsort(-masked, kind="stable")[: len(top)]]) == top


def test_cold_start_decodes_with_the_same_functions(pipeline_run: dict) -> None:
    """A new user's scores: the explorer's cold-start list is the scorer's top-K of them."""
    run_id = pipeline_run["result"]["run_id"]
    client = TestClient(
        create_app(pipeline_run["warehouse"], pipeline_run["outputs"]), base_url="http://127.0.0.1"
    )
    with duckdb.connect(str(pipeline_run["warehouse"]), read_only=True) as con:
        (graph_path,) = con.execute(
            "SELECT graph_path FROM ops.runs WHERE run_id = ?", [run_id]
        ).fetchone()
    scorer = Scorer.load(
        RunLayout.of(pipeline_run["outputs"], run_id).model, RatingGraph.load(graph_path), "cpu"
    )
    g = scorer.graph
    picked = [0, 3, 5]
    rated = [
        {"movie_id": int(g.movie_ids[i]), "rating": r}
        for i, r in zip(picked, (5.0, 4.5, 1.0), strict=True)
    ]
    got = client.post("/api/coldstart", json={"ratings": rated, "k": 8, "run": run_id}).json()
    scores = scorer.score_new_user(np.array(picked), np.array([5.0, 4.5, 1.0]))
    order = np.argsort(-np.where(np.isin(np.arange(g.n_movies), picked), -np.inf, scores.scores))
    want = [int(g.movie_ids[i]) for i in order[:8]]
    assert [i["movie_id"] for i in got["items"]] == want
    for item in got["items"]:
        pos = int(np.searchsorted(g.movie_ids.numpy(), item["movie_id"]))
        assert abs(item["score"] - scores.scores[pos]) < TOL
        assert abs(item["predicted_rating"] - scores.ratings[pos]) < TOL


@pytest.mark.parametrize("xp", ["numpy", "torch"])
def test_decoder_forms_agree(xp: str) -> None:
    rng = np.random.default_rng(0)
    y_u, y_m, c_m = rng.normal(size=(4, 3)), rng.normal(size=(9, 3)), rng.normal(size=9)
    z_u, b_u, z_m, b_m = (
        rng.normal(size=(4, 3)),
        rng.normal(size=4),
        rng.normal(size=(9, 3)),
        rng.normal(size=9),
    )
    conv = (lambda a: a) if xp == "numpy" else torch.as_tensor
    rank = decoder.ranking_scores(conv(y_u), conv(y_m), conv(c_m))
    rating = decoder.rating_scores(conv(z_u), conv(b_u), conv(z_m), conv(b_m), 3.5)
    buf = conv(np.empty((4, 9)))
    np.testing.assert_allclose(np.asarray(rank), y_u @ y_m.T + c_m)
    np.testing.assert_allclose(
        np.asarray(decoder.ranking_scores(conv(y_u), conv(y_m), conv(c_m), out=buf)),
        y_u @ y_m.T + c_m,
    )
    want = 3.5 + b_u[:, None] + b_m[None, :] + z_u @ z_m.T
    np.testing.assert_allclose(np.asarray(rating), want)
    np.testing.assert_allclose(
        np.asarray(decoder.rating_scores(conv(z_u), conv(b_u), conv(z_m), conv(b_m), 3.5, out=buf)),
        want,
    )
    clamped = np.asarray(decoder.clamp_rating(rating))
    assert clamped.min() >= 0.5 and clamped.max() <= 5.0
