"""The settings of a training run (TrainConfig), which of them decide its weights, and what a
training returns (TrainResult).

Imports nothing heavy: the command line and the run spec read these fields before torch loads.
"""

from __future__ import annotations

import dataclasses
import math

from reelgraph.core.conventions import RELEVANT_RATING

RANK_LOSSES = ("multinomial", "softmax", "bpr")  # see reelgraph.train.losses


@dataclasses.dataclass
class TrainConfig:
    epochs: int = 300  # at most; each output stops earlier when validation stops improving
    # Wall-clock budget of a validated training (None: none): when it is spent, each output
    # keeps its best epoch so far and the result says the budget ended it. A safety net that
    # bounds a run on large data on a small machine, not its stopping rule: on 2 cores
    # ml-latest-small stops by its own rule in about 1 minute, synthetic 25m with its shipped
    # config in about 7 (whose config raises the budget to 20; bench/BENCHMARKS.md).
    max_minutes: float | None = 10.0  # None or 0: no budget
    # Share of train edges passing messages in each epoch; the rest are supervised. At 1.0 every
    # edge does both (as LightGCN trains): on ml-latest-small validation that was better for
    # both outputs (NDCG@20 0.2013 vs 0.1771 at 0.75; RMSE 0.8430 vs 0.8488).
    message_fraction: float = 1.0
    train_rating: bool = True  # False: only the ranking output trains (tuning the list)
    # The rating encoder.
    lr: float = 0.005
    weight_decay: float = 0.05
    rating_batch_size: int = 8192  # supervision edges per step ...
    rating_max_steps: int = 64  # ... and at most this many steps per epoch
    # Epochs without a better validation RMSE before the rating output stops. 10: the moving
    # average below smooths its curve, and on the three ml-latest-small splits 10 selected the
    # very epochs 20 did, 11 s sooner with three members.
    patience: int = 10
    # The rating output is validated, selected and served as an exponential moving average of
    # its weights over its optimiser steps, this decay a step (0: the last step's weights; at
    # 0.98 about the last 50 steps). It averages the last steps' noise away at no training cost:
    # ml-latest-small validation RMSE 0.8261 against 0.8286 (seed-0 split; 0.9: 0.8268, 0.995:
    # 0.8276), with dropout 0.3 0.0036 lower on the three splits' mean (bench/BENCHMARKS.md).
    rating_ema: float = 0.98
    # The ranking encoder.
    rank_loss: str = "multinomial"  # multinomial | softmax | bpr (see reelgraph.train.losses)
    rank_lr: float = 0.01
    rank_weight_decay: float = 0.0
    # multinomial: users per step (all their positives), at most rank_max_user_steps steps per
    # epoch. About 150-200 steps settle the list on ml-latest-small and on a 1M-rating synthetic
    # set alike; 256 users and 8 steps reach that soonest on both (1,024 users: 22 s / 27 s to
    # the best validation epoch against 15 s / 14 s, at the same NDCG).
    rank_batch_users: int = 256
    rank_max_user_steps: int = 8
    rank_batch_size: int = 1024  # softmax, bpr: positive supervision edges per step ...
    rank_max_steps: int = 64  # ... and at most this many steps per epoch
    rank_negatives: int = 2048  # softmax: uniform negatives per step; bpr: draws per positive
    rank_in_batch: bool = True  # softmax: the batch's other positives are negatives too
    rank_threshold: float = 3.5  # supervision edges rated at least this are positives
    # Weight of the content alignment beside the ranking loss (reelgraph.train.losses): it keeps
    # movies with alike features near each other in the ranking space. On validation, at 2 both
    # the lists (NDCG@20 ml-latest-small 0.2337 -> 0.2350, synthetic small 0.1981 -> 0.2114)
    # and the space's genre agreement (0.32 -> 0.62) were better than without it.
    rank_content_weight: float = 2.0
    rank_patience: int = 15  # epochs without a better validation NDCG@K before it stops
    rank_select_k: int = 20  # the ranking output is selected on validation NDCG at this K ...
    rank_select_users: int = 4096  # ... over at most this many validation users (a fixed sample)
    # Weight of the ranking output's item-filter channel (ModelConfig.rank_filter_dim): None
    # chooses it on validation after training (a refit without validation keeps the weight of
    # the model it starts from); a number is used as it is (a refit gets the evaluated one's).
    rank_filter_weight: float | None = None
    # The ranking bias's popularity penalty (GraphSAGERecommender.popularity_penalty): None
    # chooses it on validation after the filter's weight; a number is used as it is (a refit
    # gets the evaluated model's).
    rank_popularity_penalty: float | None = None
    relevance_threshold: float = RELEVANT_RATING  # ... validation ratings >= this are relevant
    # A graph with more train edges than this trains on sampled neighbourhoods: (layer 1,
    # layer 2) neighbours per node (see reelgraph.graph.sampling); smaller ones on the full graph.
    sample_above: int = 2_000_000
    fanouts: tuple[int, int] = (15, 10)
    min_delta: float = 1e-4
    # An output's learning rate is multiplied by lr_decay after every lr_decay_after (ranking:
    # rank_lr_decay_after) epochs in a row without a better validation figure (0: never). The
    # curve settles on its best instead of wandering around it, and counting epochs (not
    # seconds) keeps a run repeatable. Off by default: ml-latest-small was tuned without it.
    lr_decay_after: int = 0
    rank_lr_decay_after: int = 0
    lr_decay: float = 0.5
    # An output whose rate has decayed this many times stops when the next decay falls due: at
    # 1/32 of its rate a step no longer moves validation measurably (synthetic 25m's rating
    # output gained 0.0002 RMSE in its last 6 epochs, 75 s, after its fifth halving).
    max_lr_decays: int = 5
    eval_every: int = 1
    checkpoint_every: int = 10
    log_every: int = 10
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    amp: bool = True  # bf16 autocast for the dense layers on CUDA (sparse products stay fp32)
    # Training processes on this machine (torch.distributed: each step's batch split across
    # them, gradients averaged; reelgraph.train.distributed). 1: this process alone.
    nproc: int = 1

    def __post_init__(self) -> None:
        if self.rank_loss not in RANK_LOSSES:
            raise ValueError(f"rank_loss must be one of {RANK_LOSSES}, got {self.rank_loss!r}")
        if not 0.0 < self.message_fraction <= 1.0:
            raise ValueError(f"message_fraction must be in (0, 1], got {self.message_fraction}")
        self.fanouts = tuple(int(f) for f in self.fanouts)  # type: ignore[assignment]
        if len(self.fanouts) != 2 or min(self.fanouts) < 1:
            raise ValueError(f"fanouts must be two positive numbers, got {self.fanouts}")
        for name in (
            "epochs",
            "rating_batch_size",
            "rating_max_steps",
            "rank_batch_users",
            "rank_max_user_steps",
            "rank_batch_size",
            "rank_max_steps",
            "rank_negatives",
            "nproc",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not self.rank_content_weight >= 0.0:
            raise ValueError(
                f"rank_content_weight must be 0 or more, got {self.rank_content_weight}"
            )
        for name in ("lr", "rank_lr"):
            if not getattr(self, name) > 0.0:
                raise ValueError(f"{name} must be above 0, got {getattr(self, name)}")
        for name in ("lr_decay_after", "rank_lr_decay_after", "max_lr_decays"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be 0 or more, got {getattr(self, name)}")
        if not 0.0 < self.lr_decay <= 1.0:
            raise ValueError(f"lr_decay must be in (0, 1], got {self.lr_decay}")
        if not 0.0 <= self.rating_ema < 1.0:
            raise ValueError(f"rating_ema must be in [0, 1), got {self.rating_ema}")
        if self.rank_filter_weight is not None and not self.rank_filter_weight >= 0.0:
            raise ValueError(f"rank_filter_weight must be 0 or more, got {self.rank_filter_weight}")
        if self.rank_popularity_penalty is not None and not self.rank_popularity_penalty >= 0.0:
            raise ValueError(
                f"rank_popularity_penalty must be 0 or more, got {self.rank_popularity_penalty}"
            )
        if not 0 <= self.seed < 2**32:
            raise ValueError(f"seed must be between 0 and {2**32 - 1}, got {self.seed}")


def result_config(cfg: TrainConfig) -> dict:
    """The settings that decide the trained weights: a checkpoint resumes only under the same ones,
    and the checkpoint folder is keyed by them."""
    # How often we log or checkpoint does not change the result, so it may differ on resume;
    # nor does the time budget: a run it cut goes on from its checkpoint under any budget.
    d = dataclasses.asdict(cfg)
    for k in ("log_every", "checkpoint_every", "device", "max_minutes"):
        d.pop(k)
    if cfg.nproc == 1:  # one process: the same settings, and folder, as before nproc existed
        d.pop("nproc")
    if cfg.lr_decay_after == cfg.rank_lr_decay_after == 0:  # no decay: the folder of before
        for key in ("lr_decay_after", "rank_lr_decay_after", "lr_decay"):
            d.pop(key)
    return d


@dataclasses.dataclass
class TrainResult:
    model_path: str
    best_epoch: int  # of the rating output (best validation RMSE; the last epoch in a refit)
    # Of the ranking output (best validation NDCG@K); None when there is no ranking encoder.
    best_rank_epoch: int | None
    epochs_run: int
    stopped_early: bool
    resumed_from_epoch: int | None
    history: list[dict]
    metrics: dict[str, dict[str, float]]  # part -> {rmse, mae, mse_scaled}
    seconds: float
    seconds_per_epoch: float  # of this run's epochs, validation included
    device: str
    eval_seconds: float = 0.0  # of `seconds`, the part spent on validation (RMSE and NDCG@K)
    best_val_ndcg: float | None = None  # the ranking output's validation NDCG@K
    # Seconds from the start until each output's best epoch ended (validation included).
    seconds_to_best: dict[str, float] = dataclasses.field(default_factory=dict)
    stopped_by_budget: bool = False  # TrainConfig.max_minutes ended it, not patience
    # With decaying rates (lr_decay_after): the rate each selected epoch trained with, as
    # settings (lr, rank_lr); a refit warm-started from these weights goes on at them.
    best_rates: dict[str, float] = dataclasses.field(default_factory=dict)
    # The item-filter channel: {"weight": w, "val_ndcg": {str(w): NDCG@K of the fused score}}
    # (val_ndcg when w was chosen on validation); {} without the channel.
    item_filter: dict = dataclasses.field(default_factory=dict)
    # The popularity penalty: {"penalty": p, "val_ndcg": {str(p): NDCG@K of the list}} (val_ndcg
    # when p was chosen on validation); {} without a ranking encoder.
    popularity_penalty: dict = dataclasses.field(default_factory=dict)


def refit_epochs(
    best_epoch: int, best_rank_epoch: int | None, share: float
) -> tuple[int, int | None]:
    """(rating, ranking) epochs of a refit on every rating. share 0: a refit from scratch, the
    epoch counts chosen on validation; otherwise a refit warm-started from the evaluated model's
    weights, that share of each count (at least one epoch): it starts where the chosen epochs
    ended, so it only has to take in the added ratings (bench/bench_refit.py measures both)."""
    if share == 0:
        return best_epoch, best_rank_epoch
    rank = None if best_rank_epoch is None else max(1, math.ceil(share * best_rank_epoch))
    return max(1, math.ceil(share * best_epoch)), rank


def chosen_after_training(item_filter: dict, popularity_penalty: dict) -> dict:
    """The settings a training chose on validation after its epochs (TrainResult.item_filter and
    .popularity_penalty), as the TrainConfig settings that make a refit keep them."""
    chosen = {}
    if "weight" in item_filter:
        chosen["rank_filter_weight"] = item_filter["weight"]
    if "penalty" in popularity_penalty:
        chosen["rank_popularity_penalty"] = popularity_penalty["penalty"]
    return chosen


def refit_settings(
    settings: dict, best_rates: dict[str, float], share: float, chosen: dict | None = None
) -> dict:
    """Training settings of a refit: a warm one (share > 0) goes on at the rates its starting
    weights were selected at (TrainResult.best_rates); one from scratch starts as training did.
    Either keeps what the evaluated model chose on validation after training (`chosen`:
    chosen_after_training)."""
    chosen = chosen or {}
    return {**settings, **best_rates, **chosen} if share > 0 else {**settings, **chosen}
