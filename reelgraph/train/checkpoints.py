"""Training checkpoints: the weights, both optimisers and the selection state after an epoch,
written atomically, read back only under the very settings that wrote them.

Imports only torch.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path
from typing import Protocol

import torch

from reelgraph.core.folders import folder_for
from reelgraph.model.config import ModelConfig
from reelgraph.model.recommender import GraphSAGERecommender
from reelgraph.train.averaging import StepAverage
from reelgraph.train.config import TrainConfig, result_config
from reelgraph.train.selection import TrainState

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint.pt"
# Model entries fitted after training (reelgraph.train.finish), never trained: during training
# they hold what the model started with, which a resume rebuilds, so no checkpoint writes them
# (the item filter's rows: at 25m 128 MB of a 360 MB checkpoint, written at every one).
FITTED_AFTER_TRAINING = ("item_filter.",)


class Checkpointed(Protocol):
    """What a checkpoint holds of a training (reelgraph.train.loop.Trainer has it)."""

    model: GraphSAGERecommender
    opt_rating: torch.optim.Optimizer
    opt_ranking: torch.optim.Optimizer | None
    rating_average: StepAverage
    device: torch.device


class Checkpoints:
    """The checkpoint file of one training, and the settings it belongs to."""

    def __init__(
        self,
        path: Path,
        model_cfg: ModelConfig,
        cfg: TrainConfig,
        fixed_epochs: tuple[int, int | None] | None,
        warm_start: bool = False,
    ) -> None:
        self.path = path
        self.identity = {
            "config": dataclasses.asdict(model_cfg),
            "train_config": result_config(cfg),
            "fixed_epochs": list(fixed_epochs) if fixed_epochs is not None else None,
            "warm_start": warm_start,
        }

    def resume(self, trainer: Checkpointed) -> tuple[TrainState, int | None]:
        """The state after the checkpoint's epoch, its weights and optimisers loaded into
        trainer; a fresh state when there is none or it is from other settings."""
        if not self.path.exists():
            return TrainState(), None
        ckpt = torch.load(self.path, weights_only=True, map_location=trainer.device)
        if {k: ckpt.get(k) for k in self.identity} != self.identity:
            log.warning("checkpoint %s is from another configuration; starting afresh", self.path)
            return TrainState(), None
        # Over the model's own entries: a checkpoint leaves out the ones fitted after training.
        trainer.model.load_state_dict({**trainer.model.state_dict(), **ckpt["model"]})
        trainer.opt_rating.load_state_dict(ckpt["opt_rating"])
        if trainer.opt_ranking is not None:
            trainer.opt_ranking.load_state_dict(ckpt["opt_ranking"])
        trainer.rating_average.load_state_dict(ckpt["rating_average"])
        state = TrainState.from_checkpoint(ckpt["state"])
        log.info("resuming from %s after epoch %d", self.path, state.epoch)
        return state, state.epoch

    def save(self, trainer: Checkpointed, state: TrainState) -> None:
        folder_for(self.path)
        tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
        torch.save(
            {
                **self.identity,
                "model": {
                    k: v
                    for k, v in trainer.model.state_dict().items()
                    if not k.startswith(FITTED_AFTER_TRAINING)
                },
                "opt_rating": trainer.opt_rating.state_dict(),
                "opt_ranking": trainer.opt_ranking.state_dict() if trainer.opt_ranking else None,
                "rating_average": trainer.rating_average.state_dict(),
                "state": state.to_checkpoint(),
            },
            tmp,
        )
        tmp.replace(self.path)  # a crash mid-write never leaves a torn checkpoint
