"""The end of a training: each output's selected weights loaded, the metrics of every part,
the model file written, and what the training did (TrainResult). Rank 0 only. Also the log line
(and progress report) of an epoch.

Imports only torch / numpy.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import torch

from reelgraph.core.errors import TrainingError
from reelgraph.evaluate.metrics import fmt_metric
from reelgraph.evaluate.probe import ValidationProbe
from reelgraph.graph.messages import MessageGraph
from reelgraph.graph.ratings import RatingGraph
from reelgraph.model.config import ModelConfig
from reelgraph.model.recommender import GraphSAGERecommender
from reelgraph.model.saved import node_key, save_model
from reelgraph.train.averaging import StepAverage
from reelgraph.train.config import TrainConfig, TrainResult
from reelgraph.train.filter_choice import choose_list_settings
from reelgraph.train.selection import TrainState
from reelgraph.train.steps import part_metrics

MODEL = "model.pt"
# The training's own logger: its epoch lines read as the training's wherever this code lives.
log = logging.getLogger("reelgraph.train.loop")


class Finishing(Protocol):
    """What the end of a training reads of it (reelgraph.train.loop.Trainer has it)."""

    model: GraphSAGERecommender
    rating_average: StepAverage  # the rating weights' moving average over the steps
    model_cfg: ModelConfig
    cfg: TrainConfig
    graph: RatingGraph
    out: Path
    device: torch.device
    fixed: tuple[int, int | None] | None  # a refit's epochs; None: selected on validation
    x_user: torch.Tensor
    x_movie: torch.Tensor
    full_graph: MessageGraph
    probe: ValidationProbe | None  # the ranking output's validation NDCG@K (None: no validation)

    def autocast(self) -> contextlib.AbstractContextManager: ...


def log_epoch(
    k: int, row: dict, state: TrainState, progress: Callable[[dict], None] | None, last: int
) -> None:
    """Log an epoch's figures (k: the K of validation NDCG) and report them to `progress`."""
    log.info(
        "epoch %d: train RMSE %s, val RMSE %s, rank loss %s, val NDCG@%d %s",
        row["epoch"],
        fmt_metric(row.get("train_rmse")),
        fmt_metric(row.get("val_rmse")),
        fmt_metric(row.get("rank_loss")),
        k,
        fmt_metric(row.get(f"val_ndcg@{k}")),
    )
    if progress is not None:
        progress(
            {
                **row,
                "epochs": last,
                "best_val_rmse": state.rating.best,
                "best_epoch": state.rating.best_epoch,
                f"best_val_ndcg@{k}": state.ranking.best,
                "best_rank_epoch": state.ranking.best_epoch,
            }
        )


def finish(
    trainer: Finishing,
    state: TrainState,
    resumed_from: int | None,
    seconds: float,
    epochs_this_run: int,
    eval_seconds: float,
) -> TrainResult:
    model, cfg = trainer.model, trainer.cfg
    if trainer.fixed is None:
        if state.rating.snapshot is None and cfg.train_rating:
            raise TrainingError(
                "no validation evaluation happened; raise --epochs or lower eval_every"
            )
        if state.rating.snapshot is not None:
            model.rating.load_state_dict(state.rating.snapshot)
        if model.ranking is not None and state.ranking.snapshot is not None:
            model.ranking.load_state_dict(state.ranking.snapshot)
    else:  # a refit serves its last epoch's weights, the rating ones as their average
        trainer.rating_average.load_into_module()
        state.rating.best_epoch = min(trainer.fixed[0], state.epoch)
        state.ranking.best_epoch = min(trainer.fixed[1] or 0, state.epoch)
    # The ranking output's closed-form channel, then its bias's penalty.
    item_filter, popularity_penalty = choose_list_settings(trainer)
    with trainer.autocast():
        metrics = part_metrics(
            model, trainer.graph, trainer.x_user, trainer.x_movie, trainer.full_graph
        )
    model_path = trainer.out / MODEL
    best_rank = state.ranking.best_epoch if model.ranking is not None else None
    save_model(
        model_path,
        model,
        trainer.model_cfg,
        dataclasses.asdict(cfg),
        metrics,
        state.history,
        state.rating.best_epoch,
        best_rank,
        node_key(trainer.graph),
    )
    validated = trainer.fixed is None
    return TrainResult(
        model_path=str(model_path),
        best_epoch=state.rating.best_epoch,
        best_rank_epoch=best_rank,
        epochs_run=state.epoch,
        stopped_early=validated and state.epoch < cfg.epochs,
        resumed_from_epoch=resumed_from,
        history=state.history,
        metrics=metrics,
        seconds=seconds,
        seconds_per_epoch=seconds / max(epochs_this_run, 1),
        device=str(trainer.device),
        eval_seconds=eval_seconds,
        best_val_ndcg=state.ranking.best if validated and best_rank else None,
        stopped_by_budget=state.budget_spent,
        seconds_to_best=(
            {"rating": state.rating.seconds_to_best, "ranking": state.ranking.seconds_to_best}
            if validated
            else {}
        ),
        best_rates=rates_at_best(state.history, state.rating.best_epoch, best_rank),
        item_filter=item_filter,
        popularity_penalty=popularity_penalty,
    )


def rates_at_best(history: list[dict], best_epoch: int, best_rank_epoch: int | None) -> dict:
    """The learning rate each output's selected epoch trained with, as TrainConfig settings
    ({} when the rates never decay): a warm refit goes on from those weights at that rate."""
    rates = {}
    for key, epoch in (("lr", best_epoch), ("rank_lr", best_rank_epoch)):
        row = next((r for r in history if r["epoch"] == epoch), {})
        if key in row:
            rates[key] = row[key]
    return rates
