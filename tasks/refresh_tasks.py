from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

from prefect import get_run_logger, task

from reelgraph.core.run_layout import RunLayout
from reelgraph.graph.ratings import RatingGraph
from reelgraph.serve import metrics_mart
from reelgraph.serve.refresh import refreshed_graph
from warehouse.read import Reader
from warehouse.run_vectors import run_files


@task(name="refresh-graph")
def refresh_graph_task(warehouse: str, outputs: str, run_id: str, dataset: str) -> dict:
    """The latest run's model and its graph extended with every rating now in raw.ratings."""
    with Reader(warehouse) as r:
        base = r.con.execute(
            "SELECT r.run_id, r.seed FROM ops.latest l JOIN ops.runs r USING (run_id) WHERE l.dataset = ?",
            [dataset],
        ).fetchall()
        if not base:
            raise ValueError(
                f"no published run of dataset {dataset!r} to refresh; run the pipeline first"
            )
        base_id, seed = base[0]
        files = run_files(r.con, base_id)
    split_id, graph_path = files.split_id, files.graph_path
    if not graph_path or not Path(graph_path).is_file():
        raise ValueError(f"run {base_id} has no saved graph ({graph_path}); re-run the pipeline")
    graph, stats = refreshed_graph(warehouse, RatingGraph.load(graph_path))
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
        "refreshing %s: %d ratings, %d new users, %d ratings of unknown movies skipped",
        base_id,
        stats.ratings,
        stats.new_users,
        stats.skipped_unknown_movies,
    )
    return {
        "base_run_id": base_id,
        "split_id": split_id,
        "seed": seed,
        "graph_path": str(layout.graph),
        "model_path": str(layout.model),
        "stats": dataclasses.asdict(stats),
    }
