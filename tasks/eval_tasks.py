from __future__ import annotations

import json
from pathlib import Path

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from reelgraph import comparison, results
from reelgraph.graph import RatingGraph
from reelgraph.run_layout import RunLayout


@task(name="evaluate")
def evaluate_task(
    warehouse: str,
    run_id: str,
    run_dir: str,
    graph_path: str,
    model_path: str,
    k_values: list[int] | None,
    threshold: float,
    models: list[str] | None,
    baseline_params: dict[str, dict] | None,
    device: str,
    seed: int,
) -> dict:
    """GraphSAGE and every baseline on the same split through the same code -> marts.metrics.
    models None: every baseline that suits the data's size (see comparison.default_baselines).
    The defaults are evaluate_flow's."""
    graph = RatingGraph.load(graph_path)
    evals, skipped = comparison.compare(
        graph,
        model_path,
        "test",
        tuple(k_values or (10, 20)),
        threshold,
        tuple(models) if models else None,
        baseline_params,
        device,
        seed,
    )
    rows = [row for r in evals for row in r.rows()]
    # GraphSAGE's rating rows for val come from training; replace only what this task computes.
    results.write_metrics(warehouse, run_id, rows, models=[r.model for r in evals])
    table = comparison.markdown_table(evals, skipped=skipped)
    out = RunLayout(Path(run_dir))
    out.dir.mkdir(parents=True, exist_ok=True)
    out.comparison.write_text(table + "\n")
    out.metrics.write_text(json.dumps(comparison.table_rows(evals), indent=2))
    create_table_artifact(
        comparison.table_rows(evals),
        key="model-comparison",
        description=f"Test metrics, run {run_id}",
    )
    create_markdown_artifact(
        f"# Model comparison, run {run_id}\n\n{table}\n", key="model-comparison-md"
    )
    logger = get_run_logger()
    logger.info(
        "evaluated %d models; users evaluated %d, skipped %d (no relevant test movie)",
        len(evals),
        evals[0].users_evaluated,
        evals[0].users_skipped,
    )
    return {
        "run_id": run_id,
        "models": [r.model for r in evals],
        "skipped": skipped,
        "table": table,
        "users_evaluated": evals[0].users_evaluated,
        "users_skipped": evals[0].users_skipped,
    }
