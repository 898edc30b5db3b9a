"""`reelgraph tune` as a flow: every trial in ops.tuning, the winners in a config file that
`run` reads, and a bad config refused before any work starts."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from conftest import run_tiny_flow

from reelgraph.tune import run_config


@pytest.fixture(scope="module")
def tuned(tiny_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    from flows.tune_flow import tune_flow

    work = tmp_path_factory.mktemp("tune")
    result = run_tiny_flow(tune_flow, tiny_dir, work, trials=2, models=["graphsage", "ease"])
    return {"result": result, "work": work}


def test_tune_records_every_trial_and_writes_the_winners(tuned: dict) -> None:
    work, result = tuned["work"], tuned["result"]
    with duckdb.connect(str(work / "w.duckdb"), read_only=True) as con:
        rows = con.execute(
            "SELECT model, trial, value, chosen, split_id FROM ops.tuning ORDER BY model, trial"
        ).fetchall()
    assert [(m, t) for m, t, *_ in rows] == [
        ("ease", 0),
        ("ease", 1),
        ("graphsage", 0),
        ("graphsage", 1),
    ]
    for model in ("ease", "graphsage"):
        mine = [r for r in rows if r[0] == model]
        chosen = [r for r in mine if r[3]]
        assert len(chosen) == 1 and chosen[0][2] == max(r[2] for r in mine)
    assert {r[4] for r in rows} == {result["split_id"]}
    path = Path(result["config"])
    assert path == work / "outputs" / "tuned" / "tiny.json"
    config = run_config.load(path)
    assert set(config.baselines) == {"ease"} and "reg" in config.baselines["ease"]
    assert "rank_lr" in config.train and "rank_dim" in config.model
    # `run` picks it up as the dataset's default.
    assert run_config.resolve("tiny", None, work / "outputs").path == str(path)


def test_a_bad_config_is_one_line_before_any_work(tmp_path: Path, capsys) -> None:
    from reelgraph.cli.main import main

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"graphsage": {"model": {"rank_dimm": 64}}}))
    code = main(
        [
            "run",
            "--dataset",
            "tiny",
            "--config",
            str(bad),
            "--warehouse",
            str(tmp_path / "w.duckdb"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 1 and "rank_dimm" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "w.duckdb").exists()
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    assert main(["run", "--config", str(broken)]) == 1
    assert "not valid JSON" in capsys.readouterr().err
