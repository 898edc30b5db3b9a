from __future__ import annotations

from prefect import flow

from reelgraph.core import runs, settings
from reelgraph.core.run_layout import RunLayout
from reelgraph.graph.ratings import SHARD_USERS
from reelgraph.model import loaded
from reelgraph.pipeline import fanout
from reelgraph.pipeline.run_spec import RunSpec
from tasks.figure_tasks import (
    curves_figure_task,
    embeddings_figure_task,
    lists_figures_task,
    metrics_figure_task,
    model_card_task,
)
from tasks.publish_tasks import gate_task, prepare_lists, publish_task


@flow(name="publish", task_runner=fanout.task_runner())
def publish_flow(
    record: dict,
    graph_path: str,
    model_path: str,
    split: dict,
    train: dict,
    k: int,
    retention: int,
    device: str,
    served: dict | None = None,
    warehouse: str | None = None,
    outputs: str | None = None,
    shard_users: int = SHARD_USERS,
    gate: bool = True,
    gate_tolerance: float = RunSpec.model_fields["gate_tolerance"].default,
) -> dict:
    """Publish a trained and evaluated run: mart rows and figures and model card, then the marts
    and *_latest switch in one transaction (k, retention, device: as the run spec says).
    train: the evaluated model's manifest; served: the refit model's, when the lists come from
    a model refit on every rating (None: from the evaluated model).

    Every user's lists are scored by shards of `shard_users` users, and each figure is its own
    task: one after another in this process by default, side by side on a Dask cluster with
    `publish_flow.with_options(task_runner=fanout.task_runner(workers, address))`.

    With `gate`, the evaluated model is first compared with the latest run's (see
    reelgraph.serve.publish_gate): worse by more than `gate_tolerance` and the run is held."""
    wh = str(settings.warehouse_path(warehouse))
    run_dir = str(RunLayout.of(settings.outputs_dir(outputs), record["run_id"]).dir)
    seed = record["seed"]
    with runs.in_progress(run_dir, wh):
        # Figures and the model card come before the commit: a published run always has them.
        # Those that need no lists start beside the lists' shards.
        curves = curves_figure_task.submit(run_dir)
        embeddings = embeddings_figure_task.submit(
            wh, run_dir, graph_path, model_path, device, seed
        )
        bars = metrics_figure_task.submit(run_dir)
        prepared = prepare_lists(graph_path, model_path, run_dir, k, device, shard_users)
        lists = lists_figures_task.submit(wh, run_dir, seed)
        umap, agreement = embeddings.result()
        paths = [curves.result(), umap, *lists.result(), bars.result()]
        loaded.forget()  # this process's copy of the graph and model
        card = model_card_task(
            record["run_id"], run_dir, record["dataset"], split, train, served, agreement, paths
        )
        verdict = (
            gate_task(wh, record, train, gate_tolerance, device)
            if gate
            else {"held": False, "against": None, "reason": "gate off (--no-gate)"}
        )
        published = publish_task(wh, {**record, "gate": verdict}, prepared, retention)
    return {**published, **card, "run_dir": run_dir, "gate": verdict}
