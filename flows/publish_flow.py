from __future__ import annotations

from prefect import flow

from reelgraph import runs, settings
from reelgraph.run_layout import RunLayout
from tasks.publish_tasks import figures_task, prepare_task, publish_task


@flow(name="publish")
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
) -> dict:
    """Publish a trained and evaluated run: mart rows and figures and model card, then the marts
    and *_latest switch in one transaction (k, retention, device: as the run spec says).
    train: the evaluated model's manifest; served: the refit model's, when the lists come from
    a model refit on every rating (None: from the evaluated model)."""
    wh = str(settings.warehouse_path(warehouse))
    run_dir = str(RunLayout.of(settings.outputs_dir(outputs), record["run_id"]).dir)
    with runs.in_progress(run_dir, wh):
        # Figures and the model card come before the commit: a published run always has them.
        prepared = prepare_task(graph_path, model_path, run_dir, k, device)
        figs = figures_task(
            wh,
            record["run_id"],
            run_dir,
            graph_path,
            model_path,
            record["dataset"],
            split,
            train,
            served,
            record["seed"],
        )
        published = publish_task(wh, record, prepared, retention)
    return {**published, **figs, "run_dir": run_dir}
