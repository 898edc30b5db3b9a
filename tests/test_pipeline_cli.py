"""The whole pipeline on the tiny preset under Prefect's test harness, then the CLI on its output."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from reelgraph.cli.main import main
from reelgraph.core.settings import DEFAULT_BASELINES


def test_pipeline_publishes_every_output(pipeline_run: dict) -> None:
    r = pipeline_run["result"]
    run_dir = Path(r["publish"]["run_dir"])
    for name in (
        "recommendations.parquet",
        "metrics.json",
        "model.pt",
        "eval_model.pt",
        "model_card.md",
        "comparison.md",
        "embedding_quality.json",
    ):
        assert (run_dir / name).is_file(), name
    figures = sorted(p.name for p in (run_dir / "figures").glob("*.png"))
    assert figures == [
        "metrics_vs_baselines.png",
        "movie_embeddings_umap.png",
        "training_curves.png",
        "user_top5_graph.png",
        "users_top5_network.png",
    ]
    with duckdb.connect(str(pipeline_run["warehouse"]), read_only=True) as con:
        models = {
            m for (m,) in con.execute("SELECT DISTINCT model FROM marts.metrics_latest").fetchall()
        }
        assert models == {"graphsage", *DEFAULT_BASELINES}  # every model, on a tiny graph
        timings = json.loads(con.execute("SELECT timings FROM ops.runs").fetchall()[0][0])
        assert set(timings) >= {"ingest", "split+features", "train", "evaluate", "refit"}
        # The README's check: no published recommendation is a movie its user has rated.
        rated = con.execute(
            """SELECT count(*) FROM marts.recommendations_latest r
               JOIN raw.ratings USING (user_id, movie_id)"""
        ).fetchall()[0][0]
        assert rated == 0
        # The lists came from the model refit on every rating; the metrics from the other one.
        split_id, params = con.execute("SELECT split_id, params FROM ops.runs").fetchall()[0]
        params = json.loads(params)
        assert split_id != params["eval_split_id"]
        parts = con.execute(
            "SELECT DISTINCT part FROM staging.split_ratings WHERE split_id = ?", [split_id]
        ).fetchall()
        assert parts == [("train",)]
    card = (run_dir / "model_card.md").read_text()
    assert "refit on every rating" in card and "Genre agreement" in card
    # The card says what the ranking score is made of, and the refit kept the chosen weight.
    chosen = r["train"]["item_filter"]
    assert f"w = {chosen['weight']} chosen on validation" in card and "the filter alone" in card
    assert r["refit"]["train_config"]["rank_filter_weight"] == chosen["weight"]
    # The warm refit went on at the rates the evaluated model's outputs were selected at (on
    # this tiny run, before any decay: tests/test_model.py has the rule with decayed rates).
    trained, served = r["train"], r["refit"]
    assert set(trained["best_rates"]) == {"lr", "rank_lr"}
    for key, rate in trained["best_rates"].items():
        assert served["train_config"][key] == rate <= trained["train_config"][key]


def _cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_recommend_with_filters(pipeline_run: dict, capsys) -> None:
    wh = str(pipeline_run["warehouse"])
    code, out, _ = _cli(
        capsys,
        "recommend",
        "--user",
        "1",
        "--genres",
        "Drama",
        "--years",
        "1960:2010",
        "--k",
        "3",
        "--warehouse",
        wh,
        "--json",
    )
    rows = json.loads(out)
    assert code == 0 and 0 < len(rows) <= 3
    assert all("Drama" in r["genres"].split("|") and 1960 <= r["year"] <= 2010 for r in rows)
    assert [r["rank"] for r in rows] == list(range(1, len(rows) + 1))
    assert all(a["score"] >= b["score"] for a, b in zip(rows, rows[1:], strict=False))
    with duckdb.connect(wh, read_only=True) as con:
        rated = {
            m
            for (m,) in con.execute("SELECT movie_id FROM raw.ratings WHERE user_id = 1").fetchall()
        }
        published = [
            m
            for (m,) in con.execute(
                "SELECT movie_id FROM marts.recommendations_latest WHERE user_id = 1 ORDER BY rank"
            ).fetchall()
        ]
    assert not {r["movie_id"] for r in rows} & rated
    # Without filters the command agrees with the published top-K table.
    code, out, _ = _cli(capsys, "recommend", "--user", "1", "--k", "5", "--warehouse", wh, "--json")
    assert [r["movie_id"] for r in json.loads(out)] == published
    code, out, _ = _cli(
        capsys, "recommend", "--user", "1", "--least", "--k", "5", "--warehouse", wh, "--json"
    )
    least = json.loads(out)
    # Least relevant: lowest predicted rating first, nothing the user rated.
    ratings = [r["predicted_rating"] for r in least]
    assert ratings == sorted(ratings) and not {r["movie_id"] for r in least} & rated
    code, out, _ = _cli(capsys, "recommend", "--user", "1", "--k", "3", "--warehouse", wh)
    assert code == 0 and "predicted_rating" in out.splitlines()[0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("recommend", "--user", "999999"), "unknown user 999999"),
        (("recommend", "--user", "1", "--genres", "Comedyy"), "unknown genre(s) Comedyy"),
        (("recommend", "--user", "1", "--years", "2010:1990"), "2010 is after 1990"),
        (("recommend", "--user", "1", "--years", "nineties"), "bad year range"),
        (("recommend", "--user", "1", "--run", "no-such-run"), "unknown run 'no-such-run'"),
        (("similar", "--movie", "123456789"), "unknown movie 123456789"),
        (("sql", "DELETE FROM raw.movies"), "refused a DELETE statement"),
    ],
)
def test_mistakes_are_one_clear_line_and_a_non_zero_exit(
    pipeline_run: dict, capsys, args, message
) -> None:
    code, out, err = _cli(capsys, *args, "--warehouse", str(pipeline_run["warehouse"]))
    assert code != 0 and message in err and len(err.strip().splitlines()) == 1, err


def test_runs_metrics_similar_and_sql(pipeline_run: dict, capsys) -> None:
    wh = str(pipeline_run["warehouse"])
    code, out, _ = _cli(capsys, "runs", "--warehouse", wh, "--json")
    runs = json.loads(out)
    assert code == 0 and runs[0]["run_id"] == pipeline_run["result"]["run_id"] and runs[0]["latest"]
    code, out, _ = _cli(capsys, "metrics", "--warehouse", wh)
    assert code == 0 and "graphsage" in out and "ease" in out
    movie = json.loads(
        _cli(capsys, "recommend", "--user", "1", "--k", "1", "--warehouse", wh, "--json")[1]
    )[0]["movie_id"]
    code, out, _ = _cli(
        capsys, "similar", "--movie", str(movie), "--k", "4", "--warehouse", wh, "--json"
    )
    sims = json.loads(out)
    assert code == 0 and len(sims) == 4 and movie not in {s["movie_id"] for s in sims}
    code, out, _ = _cli(
        capsys, "sql", "SELECT count(*) AS n FROM raw.ratings", "--warehouse", wh, "--json"
    )
    assert json.loads(out) == [{"n": 1600}]


@pytest.mark.parametrize("name", ["user_top5_graph.png", "users_top5_network.png"])
def test_graph_figures_draw_users_orange_and_movies_blue(pipeline_run: dict, name: str) -> None:
    """Not a blank canvas: a fair share of drawn pixels, and the report's colours present."""
    import matplotlib.image

    run_dir = Path(pipeline_run["result"]["publish"]["run_dir"])
    rgb = matplotlib.image.imread(run_dir / "figures" / name)[..., :3]
    drawn = (rgb < 0.95).any(axis=-1).mean()
    assert drawn > 0.02, f"{name}: only {drawn:.1%} of the pixels are drawn"

    def share(hex_colour: str) -> float:
        target = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
        return (abs(rgb - target).max(axis=-1) < 0.02).mean()

    assert share("#ff7f0e") > 0.001 and share("#1f77b4") > 0.001, name
