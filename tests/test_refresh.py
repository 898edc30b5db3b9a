from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest
from test_decoder import assert_reader_matches_marts


@pytest.fixture()
def published_copy(pipeline_run: dict, tiny_dir: Path, tmp_path: Path) -> tuple:
    """A copy of the tiny run's warehouse and outputs, its run id, and a copy of its source
    folder for a test to edit into the next export."""
    wh, outputs, source = tmp_path / "w.duckdb", tmp_path / "outputs", tmp_path / "source"
    shutil.copy(pipeline_run["warehouse"], wh)
    shutil.copytree(pipeline_run["outputs"], outputs)
    shutil.copytree(tiny_dir, source)
    return wh, outputs, pipeline_run["result"]["run_id"], source


def test_refresh_scores_a_new_user_without_retraining(published_copy: tuple) -> None:
    from prefect.testing.utilities import prefect_test_harness

    from flows.refresh_flow import refresh_flow

    wh, outputs, base_run, source = published_copy
    # New data: the same release plus a user the model never saw, who rated five movies.
    movies = [line.split(",")[0] for line in (source / "movies.csv").read_text().splitlines()[1:6]]
    with open(source / "ratings.csv", "a") as fh:
        for m in movies:
            fh.write(f"9999,{m},5.0,1600000000\n")
    with prefect_test_harness(server_startup_timeout=120):
        result = refresh_flow(
            dataset="tiny",
            source=str(source),
            warehouse=str(wh),
            outputs=str(outputs),
            k=5,
            device="cpu",
        )
    assert result["refresh_of"] == base_run and result["new_users"] == 1
    with duckdb.connect(str(wh), read_only=True) as con:
        latest = con.execute("SELECT run_id FROM ops.latest").fetchall()
        assert latest == [(result["run_id"],)]
        refresh_of, graph_path = con.execute(
            "SELECT refresh_of, graph_path FROM ops.runs WHERE run_id = ?", [result["run_id"]]
        ).fetchone()
        assert refresh_of == base_run and Path(graph_path).is_file()
        recs = con.execute(
            "SELECT movie_id FROM marts.recommendations_latest WHERE user_id = 9999"
        ).fetchall()
        assert len(recs) == 5 and not {str(m) for (m,) in recs} & set(movies)
        # The model file is the base run's: nothing was retrained.
    assert (outputs / "runs" / result["run_id"] / "model.pt").read_bytes() == (
        outputs / "runs" / base_run / "model.pt"
    ).read_bytes()
    # The refresh's lists decode from its published vectors as the read API decodes them.
    assert assert_reader_matches_marts(wh, result["run_id"]) >= 30


def test_refresh_without_a_published_run_is_refused_before_any_work(
    tiny_dir: Path, tmp_path: Path
) -> None:

    from reelgraph.core.errors import ReadError
    from reelgraph.ingest.datasets import acquire
    from reelgraph.ingest.load import ingest
    from tasks.refresh_tasks import check_refreshable

    wh = tmp_path / "w.duckdb"
    with pytest.raises(ReadError, match=r"no published run of tiny to refresh; run `reelgraph run"):
        check_refreshable(str(wh), "tiny")  # no warehouse at all
    assert not wh.exists()
    ingest(acquire("tiny", source=tiny_dir, cache_dir=tmp_path / "cache"), wh)  # never published
    before = wh.read_bytes()
    with pytest.raises(ReadError, match="no published run of tiny to refresh"):
        check_refreshable(str(wh), "tiny")
    assert wh.read_bytes() == before


def test_refresh_command_drops_users_without_ratings_and_says_whose_metrics(
    published_copy: tuple, capsys
) -> None:
    import json

    from prefect.testing.utilities import prefect_test_harness

    from reelgraph.cli.main import main

    wh, outputs, base_run, source = published_copy
    # The new export drops every rating of one user who has a list now.
    header, *rows = (source / "ratings.csv").read_text().splitlines()
    gone = rows[0].split(",")[0]
    (source / "ratings.csv").write_text(
        "\n".join([header, *(r for r in rows if r.split(",")[0] != gone)]) + "\n"
    )
    argv = ["--dataset", "tiny", "--source", str(source), "--warehouse", str(wh)]
    with prefect_test_harness(server_startup_timeout=120):
        assert main(["refresh", *argv, "--outputs", str(outputs), "--k", "5"]) == 0
    said = capsys.readouterr().out
    assert f"of run {base_run}" in said and "1 users with no rating left (no list)" in said
    with duckdb.connect(str(wh), read_only=True) as con:
        run_id, device = con.execute(
            "SELECT run_id, device FROM ops.runs WHERE refresh_of = ?", [base_run]
        ).fetchone()
        assert device == "cpu"  # the device used, not "auto" (no GPU here)
        assert con.execute(
            "SELECT count(*) FROM marts.recommendations_latest WHERE user_id = ?", [int(gone)]
        ).fetchone() == (0,)
        assert (
            con.execute(
                "SELECT count(DISTINCT user_id) FROM marts.recommendations_latest"
            ).fetchone()[0]
            > 0
        )
    assert main(["runs", "--warehouse", str(wh), "--json"]) == 0
    runs = {r["run_id"]: r for r in json.loads(capsys.readouterr().out)}
    assert runs[run_id]["metrics_of"] == base_run and runs[base_run]["metrics_of"] == base_run
    assert main(["metrics", "--warehouse", str(wh)]) == 0
    assert f"(metrics of run {base_run}," in capsys.readouterr().out
