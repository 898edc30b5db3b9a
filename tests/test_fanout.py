"""The evaluation fanned out over a local Dask cluster (`--workers 2`) records the same metrics
as the in-process run: exactly for the models with no randomness, within 1e-6 for the seeded
ones (their float sums may run in another order with other thread counts)."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from reelgraph import fanout, preflight

EXACT = ("graphsage", "popularity", "ease", "global_mean", "bias")
MODELS = ["popularity", "ease", "bias", "mf", "bpr_mf"]


def _metrics(warehouse: Path, run_id: str) -> dict[tuple, float]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute(
            "SELECT model, split, metric, k, value FROM marts.metrics WHERE run_id = ?", [run_id]
        ).fetchall()
    return {tuple(r[:4]): r[4] for r in rows}


def test_workers_2_records_what_one_process_records(pipeline_run: dict, tmp_path: Path) -> None:
    from prefect.testing.utilities import prefect_test_harness

    from flows.evaluate_flow import evaluate_flow

    wh, outputs = tmp_path / "w.duckdb", tmp_path / "outputs"
    shutil.copy(pipeline_run["warehouse"], wh)
    trained = pipeline_run["result"]["train"]
    common = dict(
        graph_path=trained["graph_path"],
        model_path=trained["model_path"],
        warehouse=str(wh),
        outputs=str(outputs),
        k_values=[10, 20],
        models=MODELS,
        device="cpu",
        seed=0,
    )
    with prefect_test_harness(server_startup_timeout=120):
        alone = evaluate_flow(run_id="in-process", **common)
        fanned = evaluate_flow.with_options(task_runner=fanout.task_runner(workers=2))(
            run_id="workers-2", **common
        )
    assert alone["models"] == fanned["models"] == ["graphsage", *MODELS]
    a, b = _metrics(wh, "in-process"), _metrics(wh, "workers-2")
    assert a.keys() == b.keys() and len(a) > 50
    for key, value in a.items():
        if key[0] in EXACT:
            assert b[key] == value, key
        else:
            assert b[key] == pytest.approx(value, abs=1e-6), key
    assert (outputs / "runs" / "workers-2" / "comparison.md").is_file()


def test_cluster_settings_are_checked_before_any_work() -> None:
    with pytest.raises(preflight.ParameterError, match="--dask-address"):
        preflight.dask_cluster(0, "localhost:8786")
    with pytest.raises(preflight.ParameterError, match="--workers"):
        preflight.dask_cluster(-1, None)
    preflight.dask_cluster(0, "tcp://10.0.0.5:8786")
    assert type(fanout.task_runner()).__name__ == "ThreadPoolTaskRunner"
