"""`reelgraph diff` (issue 33, the command-line part): two runs side by side, checked against a
second run made by hand from the first with known changes."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from conftest import clone_run, pipeline_warehouse_copy

from reelgraph.cli.main import main


@pytest.fixture()
def two_runs(pipeline_run: dict, tmp_path: Path) -> tuple[Path, str, dict]:
    """The tiny run, and "run-b": the same rows an hour later, GraphSAGE's test NDCG up by
    0.01 and one user's first pick replaced by a movie none of their top 10 held."""
    wh, base = pipeline_warehouse_copy(pipeline_run, tmp_path)
    with duckdb.connect(str(wh)) as con:
        clone_run(con, base, "run-b", "finished_at + INTERVAL 1 HOUR AS finished_at")
        con.execute(
            "UPDATE marts.metrics SET value = value + 0.01 WHERE run_id = 'run-b' AND "
            "model = 'graphsage' AND split = 'test' AND metric = 'ndcg'"
        )
        user, old = con.execute(
            "SELECT user_id, movie_id FROM marts.recommendations "
            "WHERE run_id = 'run-b' AND rank = 1 ORDER BY user_id LIMIT 1"
        ).fetchone()
        (new,) = con.execute(
            "SELECT min(movie_id) FROM marts.movie_embeddings WHERE run_id = 'run-b' AND movie_id "
            "NOT IN (SELECT movie_id FROM marts.recommendations WHERE run_id = 'run-b' "
            "AND user_id = ? AND rank <= 10)",
            [user],
        ).fetchone()
        con.execute(
            "UPDATE marts.recommendations SET movie_id = ? "
            "WHERE run_id = 'run-b' AND user_id = ? AND rank = 1",
            [new, user],
        )
        (size,) = con.execute(
            "SELECT count(*) FROM marts.recommendations WHERE run_id = ? AND user_id = ? "
            "AND rank <= 10",
            [base, user],
        ).fetchone()
        users = con.execute(
            "SELECT count(DISTINCT user_id) FROM marts.recommendations WHERE run_id = ?", [base]
        ).fetchone()[0]
    return wh, base, {"users": users, "old": old, "new": new, "size": size}


def test_diff_reads_what_changed(two_runs: tuple[Path, str, dict], capsys) -> None:
    wh, base, known = two_runs
    assert main(["diff", base, "run-b", "--warehouse", str(wh), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    ndcg = [
        m for m in d["metrics"] if m["model"] == "graphsage" and m["metric"].startswith("ndcg@")
    ]
    assert ndcg and all(m["change"] == pytest.approx(0.01) for m in ndcg)
    others = [m for m in d["metrics"] if m not in ndcg and m["change"] is not None]
    assert others and all(m["change"] == pytest.approx(0.0) for m in others)
    lists = d["lists"]
    assert lists["users_in_both"] == known["users"]
    assert lists["share_changed"] == pytest.approx(1 / known["users"])
    # One movie of one user's list (the top 10, or all of a shorter list) replaced:
    assert lists["mean_overlap"] == pytest.approx(1 - 1 / known["size"] / known["users"])
    assert d["entered"][0]["movie_id"] == known["new"] and d["entered"][0]["change"] == 1
    assert any(m["movie_id"] == known["old"] and m["change"] == -1 for m in d["left"])
    assert d["data"]["change"] == {"ratings": 0, "users": 0, "movies": 0}


def test_diff_of_one_run_compares_it_with_the_one_before(
    two_runs: tuple[Path, str, dict], capsys
) -> None:
    wh, base, _ = two_runs
    assert main(["diff", "run-b", "--warehouse", str(wh)]) == 0
    out = capsys.readouterr().out
    assert f"run {base} -> run run-b" in out and "1 users" not in out
    assert "(+0.0100)" in out and "entered the lists most:" in out
    # The first run has none before it: one line, exit 1.
    assert main(["diff", base, "--warehouse", str(wh)]) == 1
    assert "no published run before it" in capsys.readouterr().err
