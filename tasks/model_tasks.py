from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

from prefect import get_run_logger, task
from prefect.artifacts import create_progress_artifact, update_progress_artifact

from reelgraph.core import runs
from reelgraph.core.folders import folder_for
from reelgraph.core.run_layout import RunLayout
from reelgraph.evaluate.metrics import fmt_metric
from reelgraph.features.graph import build_graph
from reelgraph.ingest.datasets import sha256_file
from reelgraph.model.saved import default_model_config
from reelgraph.serve import metrics_mart
from reelgraph.train.config import TrainConfig, result_config
from reelgraph.train.fit import train


@task(name="train-graphsage")
def train_task(
    warehouse: str,
    split_id: str,
    run_id: str,
    run_dir: str,
    checkpoint_root: str,
    train_params: dict | None = None,
    model_params: dict | None = None,
    fixed_epochs: list[int | None] | None = None,
    name: str = "model",
    warm_start: str | None = None,
) -> dict:
    """Train GraphSAGE on the split; writes run_dir/<name>.pt and <name>_history.json.

    Without fixed_epochs: each output is selected on validation and the rating metrics land in
    marts.metrics. With fixed_epochs ([rating, ranking] epochs): a refit, no validation, from
    the weights of the model file warm_start when given.
    Checkpoints live under checkpoint_root/<split>-<config hash>, not under the run: a run that
    failed mid-training and is started again with the same data and parameters resumes there."""
    logger = get_run_logger()
    graph = build_graph(warehouse, split_id)
    cfg = TrainConfig(**(train_params or {}))
    model_cfg = default_model_config(graph, **(model_params or {}))
    fixed = tuple(fixed_epochs) if fixed_epochs is not None else None
    # A warm refit's weights depend on the model it starts from: its bytes are in the key.
    start = sha256_file(Path(warm_start)) if warm_start else None
    key = runs.config_hash(
        dataclasses.asdict(model_cfg), result_config(cfg), fixed, *([start] if start else [])
    )
    shared = Path(checkpoint_root) / f"{split_id}-{key}"
    with runs.own_folder(shared, Path(checkpoint_root) / f"{split_id}-{key}-{run_id}") as ckpt_dir:
        if ckpt_dir != shared:  # another run trains these very settings now: never share a file
            logger.warning(
                "another run is training the same settings in %s; this one trains in %s",
                shared,
                ckpt_dir,
            )
        what = "refit on every rating" if fixed else "training"
        if warm_start:
            what += ", from the evaluated model's weights"
        progress_id = create_progress_artifact(
            progress=0.0,
            key="graphsage-refit" if fixed else "graphsage-training",
            description=f"GraphSAGE {what}, run {run_id}",
        )
        on_progress = _progress_logger(
            logger, what, fixed is not None, progress_id, cfg.rank_select_k
        )

        result = train(
            graph,
            ckpt_dir,
            cfg,
            model_cfg,
            progress=on_progress,
            fixed_epochs=fixed,
            warm_start=warm_start,
        )
        update_progress_artifact(progress_id, progress=100.0)
        out = RunLayout(Path(run_dir))
        folder_for(out.trained(name), create=True)  # one line if outputs went away meanwhile
        shutil.copy2(result.model_path, out.trained(name))
        graph.save(ckpt_dir / "graph.pt")
        out.history(name).write_text(json.dumps(result.history))
        _report(logger, warehouse, run_id, split_id, result, fixed)
        manifest = dataclasses.asdict(result)
        manifest.pop("history")
        return {
            **manifest,
            "model_path": str(out.trained(name)),
            "graph_path": str(ckpt_dir / "graph.pt"),
            "checkpoint_dir": str(ckpt_dir),
            "split_id": split_id,
            "warm_start": warm_start,
            "model_config": dataclasses.asdict(model_cfg),
            "train_config": dataclasses.asdict(cfg),
        }


def _progress_logger(logger, what: str, refit: bool, progress_id, k: int):  # noqa: ANN001, ANN202
    """A training progress callback: the Prefect progress artifact and one log line per epoch."""

    def on_progress(row: dict) -> None:
        update_progress_artifact(progress_id, progress=100.0 * row["epoch"] / row["epochs"])
        if refit:  # a refit has no validation to report
            logger.info("%s epoch %d/%d", what, row["epoch"], row["epochs"])
            return
        logger.info(
            "%s epoch %d/%d: val RMSE %s (best %.4f at epoch %d), val NDCG@%d %s (best %.4f at epoch %d)",
            what,
            row["epoch"],
            row["epochs"],
            fmt_metric(row.get("val_rmse")),
            row["best_val_rmse"],
            row["best_epoch"],
            k,
            fmt_metric(row.get(f"val_ndcg@{k}")),
            row[f"best_val_ndcg@{k}"],
            row["best_rank_epoch"],
        )

    return on_progress


def _report(logger, warehouse: str, run_id: str, split_id: str, result, fixed) -> None:  # noqa: ANN001
    """After training: a validated model's test rating metrics into marts.metrics, and a log
    line either way."""
    if fixed is None:
        metrics_mart.write_metrics(
            warehouse,
            run_id,
            metrics_mart.rating_rows("graphsage", result.metrics),
            models=["graphsage"],
        )
        logger.info(
            "GraphSAGE test RMSE %.4f (rating output from epoch %d, ranking output from epoch %s, "
            "of %d; %s)",
            result.metrics["test"]["rmse"],
            result.best_epoch,
            result.best_rank_epoch,
            result.epochs_run,
            _pace(result),
        )
    else:
        logger.info(
            "GraphSAGE refit on %s: rating output %d epochs, ranking output %s (%.1f s on %s)",
            split_id,
            fixed[0],
            fixed[1],
            result.seconds,
            result.device,
        )


def _pace(result) -> str:  # noqa: ANN001 - reelgraph.train.fit.TrainResult
    """How this run trained: its pace, or that a finished checkpoint was reused."""
    resumed = result.resumed_from_epoch
    if resumed is not None and resumed >= result.epochs_run:
        return f"reused the finished checkpoint of epoch {resumed}: no epoch trained now"
    since = f", resumed after epoch {resumed}" if resumed else ""
    return f"{result.seconds_per_epoch:.3f} s/epoch on {result.device}{since}"
