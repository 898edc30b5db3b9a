"""The rating output's weights averaged over its optimiser steps (TrainConfig.rating_ema): an
exponential moving average the output is validated with, selected as and served as, while the
optimiser goes on from the last step's weights.

Imports only torch.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from reelgraph.train.selection import snapshot


class StepAverage:
    """An exponential moving average of `module`'s parameters, `decay` per update; the first
    update takes the weights as they are. Decay 0: no average, the module's weights are its
    own throughout."""

    def __init__(self, module: nn.Module, decay: float) -> None:
        self.module, self.decay = module, decay
        # torch's own averaging (a copy of the module, updated in one fused lerp per step).
        self.average = AveragedModel(module, multi_avg_fn=get_ema_multi_avg_fn(decay))

    @property
    def started(self) -> bool:
        return int(self.average.n_averaged) > 0

    def update(self) -> None:
        """After an optimiser step of the module."""
        if self.decay > 0:
            self.average.update_parameters(self.module)

    @contextlib.contextmanager
    def swapped_in(self) -> Iterator[None]:
        """The module holds the averaged weights inside the block, its own after it (as it is
        before the first update)."""
        if not self.started:
            yield
            return
        live = snapshot(self.module.state_dict())
        self.module.load_state_dict(self.average.module.state_dict())
        try:
            yield
        finally:
            self.module.load_state_dict(live)

    def load_into_module(self) -> None:
        """The module keeps the averaged weights (a refit's served ones)."""
        if self.started:
            self.module.load_state_dict(self.average.module.state_dict())

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.average.state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.average.load_state_dict(state)
