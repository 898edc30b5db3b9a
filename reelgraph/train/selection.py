"""Model selection during training: each output's best validation figure, epoch and weights,
and the training state a checkpoint carries (so a resumed run repeats the uninterrupted one)."""

from __future__ import annotations

import dataclasses
import math

import torch


@dataclasses.dataclass
class OutputSelection:
    """Model selection of one output: its best validation figure, epoch and weights."""

    best: float
    best_epoch: int = 0
    bad_epochs: int = 0
    done: bool = False
    snapshot: dict | None = None
    seconds_to_best: float = 0.0
    lr_decays: int = 0  # times this output's learning rate has decayed

    def plateaued(self, every: int) -> bool:
        """Whether the epoch just validated is the every-th in a row without a better figure
        (every 0: never): when the output's learning rate decays (TrainConfig.lr_decay_after)."""
        return every > 0 and self.bad_epochs > 0 and self.bad_epochs % every == 0

    def decay_due(self, every: int, max_decays: int) -> bool:
        """Whether the output's rate decays now; a decay due past max_decays ends the output
        instead (done)."""
        if not self.plateaued(every):
            return False
        if self.lr_decays >= max_decays:
            self.done = True
            return False
        self.lr_decays += 1
        return True

    def update(self, value: float, epoch: int, better: bool, weights: dict, t: float) -> None:
        if better:
            self.best, self.best_epoch, self.bad_epochs = value, epoch, 0
            self.snapshot = snapshot(weights)
            self.seconds_to_best = t
        else:
            self.bad_epochs += 1


@dataclasses.dataclass
class TrainState:
    epoch: int = 0
    rating: OutputSelection = dataclasses.field(default_factory=lambda: OutputSelection(math.inf))
    ranking: OutputSelection = dataclasses.field(default_factory=lambda: OutputSelection(-math.inf))
    history: list[dict] = dataclasses.field(default_factory=list)
    elapsed: float = 0.0  # training seconds before this process (resumed runs)
    budget_spent: bool = False  # max_minutes ended the training, not patience

    def to_checkpoint(self) -> dict:
        return {
            "budget_spent": self.budget_spent,
            "epoch": self.epoch,
            "rating": dataclasses.asdict(self.rating),
            "ranking": dataclasses.asdict(self.ranking),
            "history": self.history,
            "elapsed": self.elapsed,
        }

    @staticmethod
    def from_checkpoint(ckpt: dict) -> TrainState:
        return TrainState(
            ckpt["epoch"],
            OutputSelection(**ckpt["rating"]),
            OutputSelection(**ckpt["ranking"]),
            list(ckpt["history"]),
            ckpt["elapsed"],
            ckpt["budget_spent"],
        )


def decay_learning_rate(opt: torch.optim.Optimizer, factor: float) -> None:
    # Hand-written rather than torch's ReduceLROnPlateau: OutputSelection already counts the
    # epochs without improvement, and the rate lives in the optimiser state checkpoints keep.
    for group in opt.param_groups:
        group["lr"] *= factor


def snapshot(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in state_dict.items()}
