"""Hardening, round two (issue 34): the readers and the explorer. Another application's DuckDB
file (case 8), explorer flags that served anyway or failed after its address line (case 9),
metrics on data too thin to evaluate (case 11) and the small ones (case 12)."""

from __future__ import annotations

import socket
from pathlib import Path

import duckdb
import pytest
from fastapi.testclient import TestClient

from reelgraph.cli.read import format_table
from reelgraph.evaluate.comparison import MIN_EVALUABLE_USERS, thin_data_warning
from reelgraph.explorer.app import create_app
from tests.test_hostile import digest, refused

# 8 ------------------------------------------------- a DuckDB file of another application


@pytest.mark.parametrize("argv", [["runs"], ["metrics"], ["recommend", "--user", "1"]])
def test_another_apps_ops_runs_is_one_line(argv: list[str], tmp_path: Path, capsys) -> None:
    other = tmp_path / "other.duckdb"
    with duckdb.connect(str(other)) as con:
        con.execute("CREATE SCHEMA ops; CREATE TABLE ops.runs (id INTEGER, job VARCHAR)")
        con.execute("INSERT INTO ops.runs VALUES (1, 'nightly')")
    before = digest(other)
    err = refused([*argv, "--warehouse", str(other)], capsys)
    assert "not a reelgraph warehouse" in err and str(other) in err
    assert digest(other) == before


def test_a_missing_warehouse_points_at_run(tmp_path: Path, capsys) -> None:
    err = refused(["recommend", "--user", "1", "--warehouse", str(tmp_path / "no.duckdb")], capsys)
    assert "run `reelgraph run`" in err and "ingest`" not in err


# 9 ---------------------------------------------------------------------------- explore


@pytest.fixture()
def never_serve(monkeypatch: pytest.MonkeyPatch) -> None:
    """A refusal must come before uvicorn starts; if it does not, fail instead of serving."""
    import uvicorn

    def serve(*a: object, **k: object) -> None:
        raise AssertionError("the explorer started serving")

    monkeypatch.setattr(uvicorn, "run", serve)


def _explore(pipeline_run: dict, *extra: str) -> list[str]:
    return ["explore", "--warehouse", str(pipeline_run["warehouse"]), *extra]


def test_explore_refuses_a_port_out_of_range(pipeline_run: dict, never_serve, capsys) -> None:
    err = refused(_explore(pipeline_run, "--port", "99999"), capsys)
    assert "--port" in err


def test_explore_refuses_a_port_in_use_before_its_address_line(
    pipeline_run: dict, never_serve, capsys
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        err = refused(
            _explore(pipeline_run, "--outputs", str(pipeline_run["outputs"]), "--port", str(port)),
            capsys,
        )
    assert f"127.0.0.1:{port}" in err and "--port" in err


@pytest.mark.parametrize(
    ("extra", "named"), [(["--run", "nope"], "nope"), (["--outputs", "/no/such/dir"], "--outputs")]
)
def test_explore_refuses_what_it_cannot_show(
    pipeline_run: dict, extra: list[str], named: str, never_serve, capsys
) -> None:
    outputs = [] if "--outputs" in extra else ["--outputs", str(pipeline_run["outputs"])]
    err = refused(_explore(pipeline_run, *outputs, *extra), capsys)
    assert named in err


def test_coldstart_refuses_a_movie_rated_twice(pipeline_run: dict) -> None:
    client = TestClient(create_app(pipeline_run["warehouse"], pipeline_run["outputs"]))
    with duckdb.connect(str(pipeline_run["warehouse"]), read_only=True) as con:
        (movie,) = con.execute("SELECT min(movie_id) FROM raw.movies").fetchone()
    body = {"ratings": [{"movie_id": movie, "rating": 5.0}, {"movie_id": movie, "rating": 1.0}]}
    r = client.post("/api/coldstart", json=body, headers={"host": "127.0.0.1"})
    assert r.status_code == 422, r.text
    assert "rated more than once" in r.text


# 11 ------------------------------------------------------------ data too thin to evaluate


def test_thin_data_says_so() -> None:
    line = thin_data_warning(5, 35)
    assert line is not None and "5 of 40 users" in line and "\n" not in line
    assert thin_data_warning(MIN_EVALUABLE_USERS, 0) is None


def test_a_run_on_thin_data_warns_in_its_result_and_model_card(pipeline_run: dict) -> None:
    evaluated = pipeline_run["result"]["evaluate"]
    card = (Path(pipeline_run["outputs"]) / "runs" / pipeline_run["result"]["run_id"]).joinpath(
        "model_card.md"
    )
    thin = evaluated["users_evaluated"] < MIN_EVALUABLE_USERS
    assert (evaluated["warning"] is not None) == thin
    if thin:  # the tiny preset: a few dozen users
        assert evaluated["warning"].removeprefix("warning: ") in card.read_text()


# 12 ---------------------------------------------------------------------- small ones


def test_a_title_with_a_newline_stays_on_its_row() -> None:
    table = format_table([{"title": "Two\nLines", "score": 1.0}, {"title": "One", "score": 0.5}])
    assert len(table.splitlines()) == 4 and "Two Lines" in table


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["recommend", "--help"], "1-1000"),
        (["explore", "--help"], "65535"),
        (["tune", "--help"], "seed of the split"),
        (["generate", "--help"], "seed of the generator"),
    ],
)
def test_limits_and_defaults_are_in_the_help(argv: list[str], said: str, capsys) -> None:
    from reelgraph.cli.main import main

    with pytest.raises(SystemExit):
        main(argv)
    assert said in " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize("k", ["0", "1001"])
def test_refresh_refuses_a_list_length_before_any_work(
    k: str, tiny_dir: Path, tmp_path: Path, capsys
) -> None:
    argv = ["refresh", "--dataset", "tiny", "--source", str(tiny_dir), "--k", k]
    err = refused(
        [*argv, "--warehouse", str(tmp_path / "w.duckdb"), "--outputs", str(tmp_path / "o")], capsys
    )
    assert "--k must be between 1 and 1000" in err and not list(tmp_path.iterdir())
