"""Training's entry point: `train` runs in this process, or across `TrainConfig.nproc`
processes of this machine (reelgraph.train.ddp). The loop itself is reelgraph.train.loop.

Imports only torch / torch_geometric / numpy.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from reelgraph.graph.ratings import RatingGraph
from reelgraph.model.config import ModelConfig
from reelgraph.train.config import TrainConfig, TrainResult
from reelgraph.train.distributed import ONE_PROCESS, Ranks
from reelgraph.train.loop import train_rank


def train(
    graph: RatingGraph,
    out_dir: str | Path,
    cfg: TrainConfig | None = None,
    model_cfg: ModelConfig | None = None,
    resume: bool = True,
    progress: Callable[[dict], None] | None = None,
    stop_after_epoch: int | None = None,
    fixed_epochs: tuple[int, int | None] | None = None,
    ranks: Ranks = ONE_PROCESS,
    warm_start: str | Path | None = None,
) -> TrainResult | None:
    """Train both outputs; writes out_dir/model.pt (each output's selected weights + config).

    fixed_epochs: (rating epochs, ranking epochs) of a refit: no validation, each encoder
    trains exactly that long, from the weights of the model file warm_start (same users and
    movies; fresh optimisers) when given. stop_after_epoch simulates a crash (raises after that epoch's
    checkpoint) for resume tests. ranks: this process's place in a training across processes
    (reelgraph.train.distributed; the process group joined); None is returned on ranks other than 0.
    """
    cfg = cfg or TrainConfig()
    if cfg.nproc > 1 and ranks.single:  # start the other ranks; this process becomes rank 0
        from reelgraph.train.ddp import train_here

        return train_here(
            graph,
            Path(out_dir),
            cfg,
            model_cfg,
            progress,
            resume=resume,
            stop_after_epoch=stop_after_epoch,
            fixed_epochs=fixed_epochs,
            warm_start=warm_start,
        )
    return train_rank(
        graph,
        out_dir,
        cfg,
        model_cfg,
        resume,
        progress,
        stop_after_epoch,
        fixed_epochs,
        ranks,
        warm_start,
    )
