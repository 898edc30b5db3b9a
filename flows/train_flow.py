from __future__ import annotations

from prefect import flow

from reelgraph.core import runs, settings
from reelgraph.core.run_layout import RunLayout
from tasks.model_tasks import train_task


@flow(name="train")
def train_flow(
    split_id: str,
    warehouse: str | None = None,
    outputs: str | None = None,
    run_id: str | None = None,
    model_params: dict | None = None,
    train_params: dict | None = None,
    fixed_epochs: list[int | None] | None = None,
    name: str = "model",
    warm_start: str | None = None,
) -> dict:
    """Train the GraphSAGE recommender on a split whose features are built: each output
    selected on validation, or, with fixed_epochs ([rating, ranking]), refit without one (from
    the weights of the model file warm_start, when given).
    model_params / train_params override ModelConfig / TrainConfig defaults."""
    run_id = run_id or runs.new_run_id()
    run_dir = RunLayout.of(settings.outputs_dir(outputs), run_id).dir
    with runs.in_progress(run_dir, settings.warehouse_path(warehouse)):
        return train_task(
            str(settings.warehouse_path(warehouse)),
            split_id,
            run_id,
            str(run_dir),
            str(settings.checkpoints_dir(outputs)),
            train_params,
            model_params,
            fixed_epochs,
            name,
            warm_start,
        )
