"""Fan-out: the evaluation and the published lists are scored by user shard, and the shards add
up to what one pass over every user gives; on a local Dask cluster (`--workers 2`, or a
cluster's address) the evaluation records the same metrics as the in-process run (exactly for
the models with no randomness, within 1e-6 for the seeded ones, whose float sums may run in
another order with other thread counts) and publishing writes the same lists."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import numpy as np
import pyarrow.parquet as pq
import pytest
from conftest import republish_record

from reelgraph.graph.ratings import user_shards
from reelgraph.pipeline import fanout, preflight
from reelgraph.serve import list_files

EXACT = ("graphsage", "popularity", "ease", "global_mean", "bias")
MODELS = ["popularity", "ease", "bias", "mf", "bpr_mf"]


def _metrics(warehouse: Path, run_id: str) -> dict[tuple, float]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute(
            "SELECT model, split, metric, k, value FROM marts.metrics WHERE run_id = ?", [run_id]
        ).fetchall()
    return {tuple(r[:4]): r[4] for r in rows}


def _lists(warehouse: Path, run_id: str) -> dict[str, list[tuple]]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return {
            table: con.execute(
                f"SELECT user_id, rank, movie_id, because_movie_id, score, predicted_rating "
                f"FROM marts.{table} WHERE run_id = ? ORDER BY user_id, rank",
                [run_id],
            ).fetchall()
            for table in ("recommendations", "least_relevant")
        }


def _assert_same_lists(a: list[tuple], b: list[tuple]) -> None:
    """The same movies in the same places with the same explanations; the scores equal up to
    float rounding (the user batches' matrix products have other shapes)."""
    assert len(a) == len(b) > 0
    assert [r[:4] for r in a] == [r[:4] for r in b]
    np.testing.assert_allclose([r[4:] for r in a], [r[4:] for r in b], atol=1e-5)


def test_shards_of_users_add_up_to_one_pass(tiny_graph, tiny_model: Path, tmp_path: Path) -> None:  # noqa: ANN001
    from reelgraph.evaluate.baselines import GraphSAGEAdapter
    from reelgraph.evaluate.protocol import evaluate, evaluate_users, merge
    from reelgraph.model.scoring import Scorer

    scorer = Scorer.load(tiny_model, tiny_graph, "cpu")
    rec = GraphSAGEAdapter(scorer)
    whole = evaluate(rec, tiny_graph, "test", (5, 10))
    shards = user_shards(tiny_graph.n_users, 7)
    assert len(shards) == 6 and sum(len(r) for r in shards) == tiny_graph.n_users
    parts = merge([evaluate_users(rec, tiny_graph, "test", (5, 10), users=r) for r in shards])
    assert parts.metrics.keys() == whole.metrics.keys() and ("rmse", None) in parts.metrics
    for key, value in whole.metrics.items():
        assert parts.metrics[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key
    assert (parts.users_evaluated, parts.users_skipped) == (
        whole.users_evaluated,
        whole.users_skipped,
    )

    one = list_files.prepare_run(tiny_graph, tiny_model, tmp_path / "one", k=5, device="cpu")
    many = list_files.prepare_run(
        tiny_graph, tiny_model, tmp_path / "many", k=5, device="cpu", shard_users=7
    )
    assert (one.recommendations, one.users) == (many.recommendations, many.users) == (200, 40)
    assert not (tmp_path / "many" / list_files.SHARDS_DIR).exists()  # joined, then removed
    for name in list_files.MART_FILES.values():
        a, b = (pq.read_table(tmp_path / d / name).to_pylist() for d in ("one", "many"))
        if "embeddings" in name:
            assert a == b
        else:
            cols = ("user_id", "rank", "movie_id", "because_movie_id", "score", "predicted_rating")
            _assert_same_lists(
                [tuple(r[c] for c in cols) for r in a], [tuple(r[c] for c in cols) for r in b]
            )


def test_a_cluster_records_and_publishes_what_one_process_does(
    pipeline_run: dict, tmp_path: Path
) -> None:
    from distributed import LocalCluster
    from prefect.testing.utilities import prefect_test_harness

    from flows.evaluate_flow import evaluate_flow
    from flows.publish_flow import publish_flow

    wh, outputs = tmp_path / "w.duckdb", tmp_path / "outputs"
    shutil.copy(pipeline_run["warehouse"], wh)
    r = pipeline_run["result"]
    trained = r["train"]
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
    # The published run's folder (its history, metrics and comparison) under another run id,
    # without its lists: the cluster's tasks must write them again.
    published = Path(r["publish"]["run_dir"])
    shutil.copytree(published, outputs / "runs" / "on-cluster")
    for name in ("recommendations.parquet", "least_relevant.parquet", "model_card.md"):
        (outputs / "runs" / "on-cluster" / name).unlink()
    record = republish_record("on-cluster", r["split"]["split_id"])
    with prefect_test_harness(server_startup_timeout=120):
        alone = evaluate_flow(run_id="in-process", **common)
        fanned = evaluate_flow.with_options(task_runner=fanout.task_runner(workers=2))(
            run_id="workers-2", **common, shard_users=16
        )
        # Read now: publishing another run removes the metrics of runs that never published.
        a, b = _metrics(wh, "in-process"), _metrics(wh, "workers-2")
        assert (outputs / "runs" / "workers-2" / "comparison.md").is_file()
        with LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster:
            runner = fanout.task_runner(address=cluster.scheduler_address)
            publish_flow.with_options(task_runner=runner)(
                record=record,
                graph_path=r["refit"]["graph_path"],
                model_path=r["refit"]["model_path"],
                split=r["split"],
                train=r["train"],
                served=r["refit"],
                warehouse=str(wh),
                outputs=str(outputs),
                k=5,
                retention=5,
                device="cpu",
                shard_users=16,
            )
    assert alone["models"] == fanned["models"] == ["graphsage", *MODELS]
    assert a.keys() == b.keys() and len(a) > 50
    for key, value in a.items():
        if key[0] == "graphsage":
            # 3 user shards on the cluster, 1 in process: the same sums, added in another order.
            assert b[key] == pytest.approx(value, rel=1e-12, abs=1e-12), key
        elif key[0] in EXACT:
            assert b[key] == value, key
        else:
            assert b[key] == pytest.approx(value, abs=1e-6), key

    before, after = _lists(wh, r["run_id"]), _lists(wh, "on-cluster")
    for table in before:
        _assert_same_lists(before[table], after[table])
    on_cluster = outputs / "runs" / "on-cluster"
    assert (on_cluster / "model_card.md").is_file()
    assert len(list((on_cluster / "figures").glob("*.png"))) == 5


def test_cluster_settings_are_checked_before_any_work() -> None:
    with pytest.raises(preflight.ParameterError, match="--dask-address"):
        preflight.dask_cluster(0, "localhost:8786")
    with pytest.raises(preflight.ParameterError, match="--workers"):
        preflight.dask_cluster(-1, None)
    preflight.dask_cluster(0, "tcp://10.0.0.5:8786")
    assert type(fanout.task_runner()).__name__ == "ThreadPoolTaskRunner"
