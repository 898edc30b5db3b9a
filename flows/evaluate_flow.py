from __future__ import annotations

from prefect import flow

from reelgraph.core import runs, settings
from reelgraph.core.conventions import RELEVANT_RATING
from reelgraph.core.run_layout import RunLayout
from reelgraph.evaluate.protocol import merge
from reelgraph.graph.ratings import SHARD_USERS
from reelgraph.model import loaded
from reelgraph.pipeline import fanout
from tasks.eval_tasks import evaluate_model_task, plan_evaluation_task, record_evaluation_task


@flow(name="evaluate", task_runner=fanout.task_runner())
def evaluate_flow(
    run_id: str,
    graph_path: str,
    model_path: str,
    warehouse: str | None = None,
    outputs: str | None = None,
    k_values: list[int] | None = None,
    threshold: float = RELEVANT_RATING,
    models: list[str] | None = None,
    baseline_params: dict[str, dict] | None = None,
    device: str = "auto",
    seed: int = 0,
    shard_users: int = SHARD_USERS,
) -> dict:
    """Full-catalogue ranking and rating metrics of GraphSAGE and the baselines on one split,
    each model its own task (GraphSAGE one per shard of `shard_users` users): one after another
    in this process by default; in parallel on a Dask cluster when started with
    `evaluate_flow.with_options(task_runner=fanout.task_runner(workers, address))` (as
    `reelgraph run --workers N` does). One task writes the results."""
    wh = str(settings.warehouse_path(warehouse))
    run_dir = RunLayout.of(settings.outputs_dir(outputs), run_id).dir
    params = baseline_params or {}
    k = list(k_values or (10, 20))
    with runs.in_progress(run_dir, wh):
        names, skipped, shards = plan_evaluation_task(graph_path, models, shard_users)
        futures = {
            name: [
                evaluate_model_task.submit(
                    name,
                    graph_path,
                    model_path,
                    k,
                    threshold,
                    params.get(name),
                    device,
                    seed,
                    users,
                )
                for users in (shards if name == "graphsage" else [None])
            ]
            for name in names
        }
        evals = [merge([f.result() for f in shard_futures]) for shard_futures in futures.values()]
        loaded.forget()  # this process's copy of the graph and model: the next stage needs memory
        return record_evaluation_task(wh, run_id, str(run_dir), evals, skipped)
