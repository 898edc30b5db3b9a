from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

from prefect import get_run_logger, task

from reelgraph.core.errors import ReadError
from reelgraph.core.run_layout import RunLayout
from reelgraph.graph.ratings import RatingGraph
from reelgraph.serve import metrics_mart
from reelgraph.serve.refresh import refreshed_graph
from warehouse.read import Reader
from warehouse.run_vectors import run_files


def no_run_to_refresh(dataset: str) -> str:
    return (
        f"no published run of {dataset} to refresh; run `reelgraph run --dataset {dataset}` first"
    )


def check_refreshable(warehouse: str, dataset: str) -> None:
    """Refuse a refresh before any work when the dataset has no published run to start from
    (a daily deployment that fires before the first weekly run)."""
    if not Path(warehouse).is_file():
        raise ReadError(no_run_to_refresh(dataset))
    with Reader(warehouse) as r:
        if r.latest_run(dataset) is None:
            raise ReadError(no_run_to_refresh(dataset))


@task(name="refresh-graph")
def refresh_graph_task(warehouse: str, outputs: str, run_id: str, dataset: str) -> dict:
    """The latest run's model and its graph extended with every rating now in raw.ratings."""
    with Reader(warehouse) as r:
        base = r.latest_run(dataset)
        if base is None:  # the flow checks before its ingest; a run pruned since lands here
            raise ReadError(no_run_to_refresh(dataset))
        base_id, seed = base
        files = run_files(r.con, base_id)
    split_id, graph_path = files.split_id, files.graph_path
    if not graph_path or not Path(graph_path).is_file():
        raise ValueError(f"run {base_id} has no saved graph ({graph_path}); re-run the pipeline")
    graph, stats, gone = refreshed_graph(warehouse, RatingGraph.load(graph_path))
    layout = RunLayout.of(outputs, run_id)
    layout.dir.mkdir(parents=True, exist_ok=True)
    shutil.copy2(layout.sibling(base_id).model, layout.model)
    graph.save(layout.graph)
    # The model is the base run's: its evaluation carries over, labelled by run id in ops.runs.
    with Reader(warehouse) as r:
        rows = [
            (m["model"], m["split"], m["metric"], m["k"], m["value"]) for m in r.metrics(base_id)
        ]
    metrics_mart.write_metrics(warehouse, run_id, rows)
    get_run_logger().info(
        "refreshing %s: %d ratings, %d new users, %d ratings of unknown movies skipped, "
        "%d users with no rating left (no list)",
        base_id,
        stats.ratings,
        stats.new_users,
        stats.skipped_unknown_movies,
        stats.users_without_ratings,
    )
    return {
        "base_run_id": base_id,
        "split_id": split_id,
        "seed": seed,
        "graph_path": str(layout.graph),
        "model_path": str(layout.model),
        "stats": dataclasses.asdict(stats),
        "users_without_ratings": gone.tolist(),
    }
