from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

from prefect import get_run_logger, task
from prefect.artifacts import create_progress_artifact, update_progress_artifact

from reelgraph import results, runs
from reelgraph.graph_build import build_graph
from reelgraph.train import TrainConfig, default_model_config, result_config, train


@task(name="train-graphsage")
def train_task(
    warehouse: str,
    split_id: str,
    run_id: str,
    run_dir: str,
    checkpoint_root: str,
    train_params: dict | None = None,
    model_params: dict | None = None,
) -> dict:
    """Train GraphSAGE on the split and record its rating metrics in marts.metrics.

    Checkpoints live under checkpoint_root/<split>-<config hash>, not under the run: a run that
    failed mid-training and is started again with the same data and parameters resumes there."""
    logger = get_run_logger()
    graph = build_graph(warehouse, split_id)
    cfg = TrainConfig(**(train_params or {}))
    model_cfg = default_model_config(graph, **(model_params or {}))
    ckpt_dir = (
        Path(checkpoint_root)
        / f"{split_id}-{runs.config_hash(dataclasses.asdict(model_cfg), result_config(cfg))}"
    )
    progress_id = create_progress_artifact(
        progress=0.0, key="graphsage-training", description=f"GraphSAGE training, run {run_id}"
    )

    def on_progress(row: dict) -> None:
        update_progress_artifact(progress_id, progress=100.0 * row["epoch"] / row["epochs"])
        logger.info(
            "epoch %d/%d: train loss %.4f, val RMSE %.4f (best %.4f at epoch %d), val NDCG@%d %.4f",
            row["epoch"],
            row["epochs"],
            row["train_loss"],
            row.get("val_rmse", float("nan")),
            row["best_val_rmse"],
            row["best_epoch"],
            cfg.rank_select_k,
            row.get(f"val_ndcg@{cfg.rank_select_k}", float("nan")),
        )

    result = train(graph, ckpt_dir, cfg, model_cfg, progress=on_progress)
    update_progress_artifact(progress_id, progress=100.0)
    out = Path(run_dir)
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy2(result.model_path, out / "model.pt")
    graph.save(ckpt_dir / "graph.pt")
    (out / "training_history.json").write_text(json.dumps(result.history))
    results.write_metrics(
        warehouse, run_id, results.rating_rows("graphsage", result.metrics), models=["graphsage"]
    )
    logger.info(
        "GraphSAGE test RMSE %.4f, MAE %.4f (best rating epoch %d, ranking epoch %s, of %d; %.3f s/epoch on %s)",
        result.metrics["test"]["rmse"],
        result.metrics["test"]["mae"],
        result.best_epoch,
        result.best_rank_epoch,
        result.epochs_run,
        result.seconds_per_epoch,
        result.device,
    )
    manifest = dataclasses.asdict(result)
    manifest.pop("history")
    return {
        **manifest,
        "model_path": str(out / "model.pt"),
        "graph_path": str(ckpt_dir / "graph.pt"),
        "checkpoint_dir": str(ckpt_dir),
        "model_config": dataclasses.asdict(model_cfg),
        "train_config": dataclasses.asdict(cfg),
    }
