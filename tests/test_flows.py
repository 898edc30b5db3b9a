from __future__ import annotations

from pathlib import Path

import duckdb
import pytest


@pytest.fixture(scope="module")
def prefect_harness():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


def test_ingest_flow_loads_then_skips_the_same_data(
    prefect_harness, tiny_dir: Path, tmp_path: Path
) -> None:
    from flows.ingest_flow import ingest_flow

    wh = tmp_path / "w.duckdb"
    first = ingest_flow(
        dataset="my-export", source=str(tiny_dir), warehouse=str(wh), cache_dir=str(tmp_path / "c")
    )
    assert not first["skipped"] and first["row_counts"]["raw.ratings"] == 1600
    second = ingest_flow(
        dataset="my-export", source=str(tiny_dir), warehouse=str(wh), cache_dir=str(tmp_path / "c")
    )
    assert second["skipped"] and second["ingest_id"] == first["ingest_id"]
    with duckdb.connect(str(wh), read_only=True) as con:
        assert con.execute(
            "SELECT count(*), bool_and(NOT verified) FROM ops.ingests"
        ).fetchone() == (1, True)


def test_cli_generate_and_ingest(prefect_harness, tmp_path: Path, monkeypatch, capsys) -> None:
    from reelgraph.cli.main import main

    assert main(["generate", "--preset", "tiny", "--out", str(tmp_path / "d"), "--seed", "3"]) == 0
    assert "ratings.csv" in capsys.readouterr().out
    # An unknown release without --source is one clear line and a non-zero exit, no traceback.
    monkeypatch.setenv("REELGRAPH_CACHE", str(tmp_path / "cache"))
    code = main(["ingest", "--dataset", "not-a-release", "--warehouse", str(tmp_path / "w.duckdb")])
    err = capsys.readouterr().err
    assert code == 1 and "unknown dataset 'not-a-release'" in err and "--source" in err


def test_features_flow_splits_and_builds_then_reuses(
    prefect_harness, tiny_dir: Path, tmp_path: Path
) -> None:
    from flows.features_flow import features_flow
    from flows.ingest_flow import ingest_flow

    wh = str(tmp_path / "w.duckdb")
    ingest_flow(dataset="tiny", source=str(tiny_dir), warehouse=wh, cache_dir=str(tmp_path / "c"))
    first = features_flow(warehouse=wh, seed=0)
    assert first["features"]["user_dim"] == 34 and not first["features"]["reused"]
    again = features_flow(warehouse=wh, seed=0)
    assert again["split"]["reused"] and again["features"]["reused"]
    assert again["split"]["split_id"] == first["split"]["split_id"]
