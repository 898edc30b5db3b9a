from __future__ import annotations

import functools
import json
from pathlib import Path

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from reelgraph import comparison, results
from reelgraph.evaluate import EvalResult
from reelgraph.graph import RatingGraph
from reelgraph.run_layout import RunLayout


def _graph(path: str) -> RatingGraph:
    """The graph at path, read once per process: in one process the plan and every model's task
    share it (a 25m graph takes seconds to read); a file rewritten since is read again."""
    stat = Path(path).stat()
    return _graph_version(path, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=1)  # one graph held: the evaluation's
def _graph_version(path: str, mtime_ns: int, size: int) -> RatingGraph:
    return RatingGraph.load(path)


@task(name="plan-evaluation")
def plan_evaluation_task(graph_path: str, models: list[str] | None) -> tuple[list[str], dict]:
    """The models to evaluate, GraphSAGE first (models None: every baseline that suits the
    data's size, see comparison.default_baselines), and the baselines skipped, with why."""
    names, skipped = comparison.models_to_compare(
        _graph(graph_path), tuple(models) if models else None
    )
    return list(names), skipped


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
) -> EvalResult:
    """One model's test metrics: reads the graph and model from their files (this task may run
    in another process or on another machine) and returns its metric rows, a few hundred bytes.
    Models must not change the graph they are given (the process shares one)."""
    graph = _graph(graph_path)
    return comparison.evaluate_model(
        name, graph, model_path, "test", tuple(k_values), threshold, params, device, seed
    )


@task(name="record-evaluation")
def record_evaluation_task(
    warehouse: str, run_id: str, run_dir: str, evals: list[EvalResult], skipped: dict[str, str]
) -> dict:
    """The one writer: every model's rows into marts.metrics, the comparison files and
    artifacts."""
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
