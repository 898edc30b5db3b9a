from __future__ import annotations

from prefect import flow

from reelgraph import runs, settings
from reelgraph.conventions import RELEVANT_RATING
from reelgraph.run_layout import RunLayout
from tasks.eval_tasks import evaluate_task


@flow(name="evaluate")
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
) -> dict:
    """Full-catalogue ranking and rating metrics of GraphSAGE and the baselines on one split."""
    run_dir = RunLayout.of(settings.outputs_dir(outputs), run_id).dir
    with runs.in_progress(run_dir, settings.warehouse_path(warehouse)):
        return evaluate_task(
            str(settings.warehouse_path(warehouse)),
            run_id,
            str(run_dir),
            graph_path,
            model_path,
            k_values,
            threshold,
            models,
            baseline_params,
            device,
            seed,
        )
