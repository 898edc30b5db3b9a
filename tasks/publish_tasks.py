from __future__ import annotations

import dataclasses
import datetime as dt

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact

from reelgraph.core.errors import ReadError
from reelgraph.graph.ratings import SHARD_USERS, user_shards
from reelgraph.model import loaded
from reelgraph.serve import list_files, publish, publish_gate


@task(name="score-lists")
def lists_task(
    graph_path: str,
    model_path: str,
    run_dir: str,
    k: int,
    device: str,
    index: int,
    users: tuple[int, int],
) -> int:
    """One shard of users' (start, stop) top-K and least-relevant lists as Parquet files in the
    run's folder (the warehouse untouched); returns the rows of each list."""
    scorer = loaded.scorer(graph_path, model_path, device)
    return list_files.write_lists(scorer, run_dir, k, index, range(*users))


@task(name="embeddings")
def embeddings_task(graph_path: str, model_path: str, run_dir: str, device: str) -> None:
    """The decoder's tables (user and movie embeddings) as Parquet in the run's folder."""
    list_files.write_embeddings(loaded.scorer(graph_path, model_path, device), run_dir)


@task(name="combine-lists")
def combine_lists_task(run_dir: str, shard_rows: list[int], n_users: int) -> dict:
    return dataclasses.asdict(list_files.combine_lists(run_dir, shard_rows, n_users))


def prepare_lists(
    graph_path: str,
    model_path: str,
    run_dir: str,
    k: int = 20,
    device: str = "auto",
    shard_users: int = SHARD_USERS,
) -> dict:
    """Score every user, shard by shard, as tasks of the calling flow's task runner (one after
    another in its process, or in parallel on a Dask cluster), then join the shards' files:
    the run's mart rows as Parquet (list_files.PreparedRun as a dict)."""
    list_files.check_k(k)
    n_users = loaded.graph(graph_path).n_users
    shards = [
        lists_task.submit(graph_path, model_path, run_dir, k, device, i, (r.start, r.stop))
        for i, r in enumerate(user_shards(n_users, shard_users))
    ]
    embeddings = embeddings_task.submit(graph_path, model_path, run_dir, device)
    prepared = combine_lists_task(run_dir, [f.result() for f in shards], n_users)
    embeddings.result()
    return prepared


@task(name="publish-gate")
def gate_task(warehouse: str, record: dict, trained: dict, tolerance: float, device: str) -> dict:
    """The gate's verdict on the run's evaluated model against the latest run's (logged in one
    line; the publish acts on it)."""
    evaluated = publish_gate.Evaluated(
        record["run_id"], trained["graph_path"], trained["model_path"]
    )
    verdict = publish_gate.check(
        warehouse, record["dataset"], record["run_id"], evaluated, tolerance, record["seed"], device
    )
    line = publish_gate.describe(record["run_id"], verdict)
    (get_run_logger().warning if verdict["held"] else get_run_logger().info)("%s", line)
    return verdict


@task(name="publish")
def publish_task(warehouse: str, record: dict, prepared: dict, retention: int = 5) -> dict:
    """Marts, run registry and *_latest views of the run, switched in one transaction."""
    rec = publish.RunRecord(
        **{**record, "started_at": dt.datetime.fromisoformat(record["started_at"])}
    )
    result = publish.commit_run(warehouse, rec, list_files.PreparedRun(**prepared), retention)
    get_run_logger().info(
        "%s %s: %d recommendations; pruned %s",
        "held" if rec.held else "published",
        rec.run_id,
        result.recommendations,
        result.pruned_runs,
    )
    return dataclasses.asdict(result)


@task(name="run-diff")
def run_diff_task(warehouse: str, run_id: str, against: str | None, k: int = 10) -> str:
    """The `run-diff` artifact on the pipeline run's page: this run against `against` (the
    latest run before it, whose lists people saw), else the published or held run before it."""
    from warehouse.read import Reader
    from warehouse.run_diff import kept, markdown, previous_run, run_diff

    with Reader(warehouse) as r:
        if against is None or not kept(r.con, against):
            try:
                against = previous_run(r.con, run_id)
            except ReadError:
                against = None
        text = (
            f"# Run {run_id} against the run before it\n\nThe first run of its dataset: "
            "nothing to compare with.\n"
            if against is None
            else markdown(run_diff(r.con, against, run_id, k), f"Run {run_id} against {against}")
        )
    create_markdown_artifact(text, key="run-diff", description=f"run {run_id} against {against}")
    return text
