from __future__ import annotations

import json
from pathlib import Path

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from reelgraph.core.run_layout import RunLayout
from reelgraph.evaluate import comparison
from reelgraph.evaluate.protocol import EvalResult, PartialEval
from reelgraph.graph.ratings import SHARD_USERS, user_shards
from reelgraph.model import loaded
from reelgraph.serve import metrics_mart


@task(name="plan-evaluation")
def plan_evaluation_task(
    graph_path: str, models: list[str] | None, shard_users: int = SHARD_USERS
) -> tuple[list[str], dict, list[tuple[int, int]]]:
    """The models to evaluate, GraphSAGE first (models None: every baseline that suits the
    data's size, see comparison.default_baselines), the baselines skipped, with why, and the
    user shards GraphSAGE is scored over (start, stop)."""
    graph = loaded.graph(graph_path)
    names, skipped = comparison.models_to_compare(graph, tuple(models) if models else None)
    shards = [(r.start, r.stop) for r in user_shards(graph.n_users, shard_users)]
    return list(names), skipped, shards


@task(name="evaluate-model")
def evaluate_model_task(
    name: str,
    graph_path: str,
    model_path: str,
    k_values: list[int],
    threshold: float,
    params: dict | None,
    device: str,
    seed: int,
    users: tuple[int, int] | None = None,
) -> PartialEval:
    """One model's test sums, over one shard of users (start, stop; None: every user): reads
    the graph and model from their files (this task may run in another process or on another
    machine) and returns sums of a few kB. A baseline is fitted in its task, so it is one task
    over every user; GraphSAGE, trained already, is one task per user shard. Models must not
    change the graph they are given (the process shares one)."""
    graph = loaded.graph(graph_path)
    scorer = loaded.scorer(graph_path, model_path, device) if name == "graphsage" else None
    return comparison.evaluate_model(
        name,
        graph,
        model_path,
        "test",
        tuple(k_values),
        threshold,
        params,
        device,
        seed,
        None if users is None else range(*users),
        scorer,
    )


@task(name="record-evaluation")
def record_evaluation_task(
    warehouse: str, run_id: str, run_dir: str, evals: list[EvalResult], skipped: dict[str, str]
) -> dict:
    """The one writer: every model's rows into marts.metrics, the comparison files and
    artifacts."""
    rows = [row for r in evals for row in r.rows()]
    # GraphSAGE's rating rows for val come from training; replace only what this task computes.
    metrics_mart.write_metrics(warehouse, run_id, rows, models=[r.model for r in evals])
    table = comparison.markdown_table(evals, skipped=skipped)
    warning = comparison.thin_data_warning(evals[0].users_evaluated, evals[0].users_skipped)
    out = RunLayout(Path(run_dir))
    out.dir.mkdir(parents=True, exist_ok=True)
    # The comparison file is what the model card and the run's summary page show: the warning
    # above the table reaches both.
    out.comparison.write_text((f"> **{warning}**\n\n" if warning else "") + table + "\n")
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
        "warning": warning,
    }
