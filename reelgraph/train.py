"""Mini-batch training of the GraphSAGE recommender, with checkpoints and exact resume.

Each epoch splits the TRAIN edges at random into message edges (they build the adjacency) and
supervision edges (the losses are computed on them), as PyG's RandomLinkSplit does with a
disjoint train ratio: an edge never carries its own label through a message, which is also the
situation at validation/test time, when every train edge passes messages and the scored edges
are absent from the graph. Within the epoch each encoder takes many optimiser steps over
mini-batches of the supervision edges, each step propagating over the epoch's message graph
(its first-layer aggregates of the constant features are computed once per epoch):
  - the rating encoder: MSE on batches of `rating_batch_size` supervision edges (on
    ml-latest-small about ten steps per epoch);
  - the ranking encoder: the ranking loss (reelgraph.losses) on batches of `rank_batch_size`
    positive supervision edges.
An epoch is a pass over its supervision edges, or `*_max_steps` batches where that is fewer.
On a graph with more than `sample_above` train edges a step computes only the batch's nodes,
over sampled neighbourhoods (reelgraph.sampling): a full-graph step on 25M ratings costs 3-4 s.

Model selection: each output is taken from its own best epoch: the rating encoder at the best
validation RMSE, the ranking encoder at the best validation NDCG@K (full catalogue, train movies
excluded, on a fixed sample of validation users). An output stops training when it has not
improved for its patience, and training ends when both have stopped.

Refit (`fixed_epochs`): no validation; each encoder trains exactly its given number of epochs,
for a model refit on every rating with the settings and epoch counts chosen on validation.

Determinism: every random draw of epoch e comes from seeds derived from (seed, e), so a run
resumed from a checkpoint after epoch e repeats the uninterrupted run exactly on CPU.

Imports only torch / torch_geometric / numpy.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch

from reelgraph.conventions import RELEVANT_RATING
from reelgraph.errors import ReelgraphError
from reelgraph.evaluate import ValidationProbe
from reelgraph.graph import BipartiteAdjacency, RatingGraph
from reelgraph.losses import RANK_LOSSES, NegativeSampler, RankingBatch, RankingObjective
from reelgraph.metrics import rating_metrics
from reelgraph.model import GraphSAGERecommender, MessageGraph, ModelConfig, message_graph
from reelgraph.sampling import Block, NeighbourIndex

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint.pt"
MODEL = "model.pt"
MODEL_FORMAT = 2  # model files of format 1 (one shared encoder) cannot be loaded


class TrainingError(ReelgraphError):
    pass


@dataclasses.dataclass
class TrainConfig:
    epochs: int = 300  # at most; each output stops earlier when validation stops improving
    # Wall-clock budget of a validated training (None: none): when it is spent, each output
    # keeps its best epoch so far and the result says the budget ended it. It bounds a run on
    # large data on a small machine (synthetic 25m on 2 cores: the rating output still improves
    # slowly after 15 minutes); ml-latest-small trains in a few minutes, far inside it.
    max_minutes: float | None = 15.0
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
    patience: int = 20  # epochs without a better validation RMSE before the rating output stops
    # The ranking encoder.
    rank_loss: str = "softmax"  # softmax | bpr (see reelgraph.losses)
    rank_lr: float = 0.003
    rank_weight_decay: float = 0.0
    rank_batch_size: int = 1024  # positive supervision edges per step ...
    rank_max_steps: int = 64  # ... and at most this many steps per epoch
    rank_negatives: int = 2048  # softmax: uniform negatives per step; bpr: draws per positive
    rank_in_batch: bool = True  # softmax: the batch's other positives are negatives too
    rank_threshold: float = 3.5  # supervision edges rated at least this are positives
    rank_patience: int = 15  # epochs without a better validation NDCG@K before it stops
    rank_select_k: int = 20  # the ranking output is selected on validation NDCG at this K ...
    rank_select_users: int = 4096  # ... over at most this many validation users (a fixed sample)
    relevance_threshold: float = RELEVANT_RATING  # ... validation ratings >= this are relevant
    # A graph with more train edges than this trains on sampled neighbourhoods: (layer 1,
    # layer 2) neighbours per node (see reelgraph.sampling); smaller ones on the full graph.
    sample_above: int = 2_000_000
    fanouts: tuple[int, int] = (15, 10)
    min_delta: float = 1e-4
    eval_every: int = 1
    checkpoint_every: int = 10
    log_every: int = 10
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    amp: bool = True  # bf16 autocast for the dense layers on CUDA (sparse products stay fp32)

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
            "rank_batch_size",
            "rank_max_steps",
            "rank_negatives",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("lr", "rank_lr"):
            if not getattr(self, name) > 0.0:
                raise ValueError(f"{name} must be above 0, got {getattr(self, name)}")
        if not 0 <= self.seed < 2**32:
            raise ValueError(f"seed must be between 0 and {2**32 - 1}, got {self.seed}")


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


@contextlib.contextmanager
def keep_freed_memory() -> Iterator[bool]:
    """While training, ask glibc to keep freed memory for reuse instead of unmapping it.

    Every step allocates the same few large tensors (millions of edges x hidden). By default
    glibc serves each from a fresh mmap and unmaps it on free, so every step pays first-touch
    page faults again; on the 25m graph in a VM that was a third of the epoch. The setting is
    process-wide, so it is undone (and the kept memory given back) when training ends: in the
    pipeline process, evaluation and publishing run next, and with the setting left on the
    25m pipeline was OOM-killed at 24 GB while publishing. Yields whether it applied (glibc only)."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    libc = None
    if name is not None:
        try:
            libc = ctypes.CDLL(name)
            libc.mallopt, libc.malloc_trim  # noqa: B018 - both must exist (glibc)
        except (OSError, AttributeError):
            libc = None
    m_trim_threshold, m_mmap_max = -1, -4
    applied = (
        libc is not None
        and bool(libc.mallopt(m_mmap_max, 0))
        and bool(libc.mallopt(m_trim_threshold, 2**30 * 64))
    )
    try:
        yield applied
    finally:
        if libc is not None:
            libc.mallopt(m_mmap_max, 65536)  # glibc's defaults
            libc.mallopt(m_trim_threshold, 128 * 1024)
            libc.malloc_trim(0)


def select_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise TrainingError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from exc
    if device.type not in ("cpu", "cuda"):
        raise TrainingError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise TrainingError(
            f"device {name!r} requested but CUDA is not available here; use --device cpu or auto"
        )
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise TrainingError(f"device {name!r}: only {torch.cuda.device_count()} CUDA device(s)")
    return device


def default_model_config(graph: RatingGraph, **overrides: object) -> ModelConfig:
    _, _, r = graph.part("train")
    return ModelConfig(
        n_users=graph.n_users,
        n_movies=graph.n_movies,
        user_in=graph.x_user.shape[1],
        movie_in=graph.x_movie.shape[1],
        global_mean=float(r.double().mean()) if r.numel() else 3.5,
        **overrides,  # type: ignore[arg-type]
    )


def train(
    graph: RatingGraph,
    out_dir: str | Path,
    cfg: TrainConfig | None = None,
    model_cfg: ModelConfig | None = None,
    resume: bool = True,
    progress: Callable[[dict], None] | None = None,
    stop_after_epoch: int | None = None,
    fixed_epochs: tuple[int, int | None] | None = None,
) -> TrainResult:
    """Train both outputs; writes out_dir/model.pt (each output's selected weights + config).

    fixed_epochs: (rating epochs, ranking epochs) of a refit: no validation, each encoder
    trains exactly that long. stop_after_epoch simulates a crash (raises after that epoch's
    checkpoint) for resume tests.
    """
    cfg = cfg or TrainConfig()
    on_cpu = select_device(cfg.device).type == "cpu"
    with keep_freed_memory() if on_cpu else contextlib.nullcontext():
        return _Trainer(graph, Path(out_dir), cfg, model_cfg, fixed_epochs).run(
            resume, progress, stop_after_epoch
        )


@dataclasses.dataclass
class _OutputState:
    """Model selection of one output: its best validation figure, epoch and weights."""

    best: float
    best_epoch: int = 0
    bad_epochs: int = 0
    done: bool = False
    snapshot: dict | None = None
    seconds_to_best: float = 0.0

    def update(self, value: float, epoch: int, better: bool, weights: dict, t: float) -> None:
        if better:
            self.best, self.best_epoch, self.bad_epochs = value, epoch, 0
            self.snapshot = _snapshot(weights)
            self.seconds_to_best = t
        else:
            self.bad_epochs += 1


@dataclasses.dataclass
class _TrainState:
    epoch: int = 0
    rating: _OutputState = dataclasses.field(default_factory=lambda: _OutputState(math.inf))
    ranking: _OutputState = dataclasses.field(default_factory=lambda: _OutputState(-math.inf))
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
    def from_checkpoint(ckpt: dict) -> _TrainState:
        return _TrainState(
            ckpt["epoch"],
            _OutputState(**ckpt["rating"]),
            _OutputState(**ckpt["ranking"]),
            list(ckpt["history"]),
            ckpt["elapsed"],
            ckpt["budget_spent"],
        )


class _Trainer:
    def __init__(
        self,
        graph: RatingGraph,
        out: Path,
        cfg: TrainConfig,
        model_cfg: ModelConfig | None,
        fixed_epochs: tuple[int, int | None] | None,
    ) -> None:
        out.mkdir(parents=True, exist_ok=True)
        self.graph, self.out, self.cfg, self.fixed = graph, out, cfg, fixed_epochs
        self.device = device = select_device(cfg.device)
        self.model_cfg = model_cfg or default_model_config(graph)
        torch.manual_seed(cfg.seed)
        self.model = model = GraphSAGERecommender(self.model_cfg).to(device)
        self.opt_rating = torch.optim.AdamW(
            model.rating.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay
        )
        self.opt_ranking = (
            torch.optim.AdamW(
                model.ranking.parameters(), lr=cfg.rank_lr, weight_decay=cfg.rank_weight_decay
            )
            if model.ranking is not None
            else None
        )
        t_user, t_movie, t_rating = (t.to(device) for t in graph.part("train"))
        if t_user.numel() == 0:
            raise TrainingError("the split has no train ratings to learn from")
        self.x_user, self.x_movie = graph.x_user.to(device), graph.x_movie.to(device)
        self.adj = adj = BipartiteAdjacency.build(t_user, t_movie, graph.n_users, graph.n_movies)
        # From here train edges are in the adjacency's canonical order (its to-user layout's),
        # so an epoch's message mask is already in one CSR layout's order.
        self.t_user, self.t_movie, self.t_rating = adj.users, adj.movies, adj.canonical(t_rating)
        self.deviation = (
            adj.weights(self.t_rating - self.model_cfg.global_mean)
            if model.needs_rating_messages
            else None
        )
        self.deviation_canonical = (
            self.t_rating - self.model_cfg.global_mean if model.needs_rating_messages else None
        )
        positive = self.t_rating >= cfg.rank_threshold
        self.objective = RankingObjective(
            cfg.rank_loss,
            NegativeSampler.from_positives(self.t_movie[positive], graph.n_movies),
            cfg.rank_negatives,
            cfg.rank_in_batch,
        )
        self.neighbours = NeighbourIndex.build(adj) if t_user.numel() > cfg.sample_above else None
        validate = fixed_epochs is None
        # Every train edge passes messages; encoded at each validation, so it keeps its inputs.
        self.full_graph = message_graph(adj, None, self.deviation, reuse_inputs=True)
        self.val = tuple(t.to(device) for t in graph.part("val")) if validate else None
        if validate and self.val[0].numel() == 0:
            raise TrainingError("the split has no validation ratings to select the model on")
        self.probe = (
            ValidationProbe.build(
                graph, cfg.rank_select_k, cfg.relevance_threshold, cfg.rank_select_users, cfg.seed
            )
            if validate and model.ranking is not None
            else None
        )
        self.use_amp = cfg.amp and device.type == "cuda"

    # ------------------------------------------------------------------ the loop

    def run(
        self,
        resume: bool,
        progress: Callable[[dict], None] | None,
        stop_after_epoch: int | None,
    ) -> TrainResult:
        cfg, model = self.cfg, self.model
        state, resumed_from = self._resume() if resume else (_TrainState(), None)
        if model.ranking is None:
            state.ranking.done = True
        if not cfg.train_rating:
            state.rating.done = True
        t0 = time.perf_counter() - state.elapsed
        epochs_this_run, eval_seconds = 0, 0.0
        last = cfg.epochs if self.fixed is None else max(e or 0 for e in self.fixed)
        for epoch in range(state.epoch + 1, last + 1):
            if self.fixed is not None:
                state.rating.done = epoch > self.fixed[0] or not cfg.train_rating
                state.ranking.done = model.ranking is None or epoch > (self.fixed[1] or 0)
            if state.rating.done and state.ranking.done:
                break
            row = self._epoch(epoch, state)
            epochs_this_run += 1
            if self.fixed is None and (epoch % cfg.eval_every == 0 or epoch == cfg.epochs):
                t_eval = time.perf_counter()
                self._validate(epoch, state, row, time.perf_counter() - t0)
                eval_seconds += time.perf_counter() - t_eval
            state.elapsed = time.perf_counter() - t0
            row["seconds"] = round(state.elapsed, 3)
            if self.fixed is None and cfg.max_minutes is not None:
                if state.elapsed > 60 * cfg.max_minutes and not (
                    state.rating.done and state.ranking.done
                ):
                    state.budget_spent = True
                    state.rating.done = state.ranking.done = True
                    log.info(
                        "training budget of %s minutes spent after epoch %d", cfg.max_minutes, epoch
                    )
            state.history.append(row)
            state.epoch = epoch
            if epoch % cfg.log_every == 0 or epoch == 1:
                self._log(row, state, progress, last)
            if epoch % cfg.checkpoint_every == 0:
                self._save_checkpoint(state)
            if stop_after_epoch is not None and epoch >= stop_after_epoch:
                self._save_checkpoint(state)
                raise KeyboardInterrupt(f"simulated crash after epoch {epoch}")
        seconds = time.perf_counter() - t0
        # The checkpoint keeps the last weights and optimiser state, so more epochs can follow.
        self._save_checkpoint(state)
        return self._finish(state, resumed_from, seconds, epochs_this_run, eval_seconds)

    def _epoch(self, epoch: int, state: _TrainState) -> dict:
        cfg, model = self.cfg, self.model
        torch.manual_seed(cfg.seed * 1_000_003 + epoch)  # dropout of this epoch
        gen = torch.Generator(device=self.device).manual_seed(cfg.seed * 1_000_003 + epoch)
        model.train()
        n = self.t_user.numel()
        if cfg.message_fraction >= 1.0:
            keep, sup = None, torch.ones(n, dtype=torch.bool, device=self.device)
        else:
            keep = torch.rand(n, generator=gen, device=self.device) < cfg.message_fraction
            sup = ~keep
        # Each boolean gather over 20M train edges costs ~0.2 s on 2 cores: once per epoch.
        s_user, s_movie, s_rating = self.t_user[sup], self.t_movie[sup], self.t_rating[sup]
        step = _Step(self, message_graph(self.adj, keep, self.deviation, reuse_inputs=True), keep)
        row: dict = {"epoch": epoch}
        if not state.rating.done:
            row.update(self._rating_epoch(step, s_user, s_movie, s_rating, gen, epoch))
        if not state.ranking.done:
            pos = s_rating >= cfg.rank_threshold
            row.update(self._ranking_epoch(step, s_user[pos], s_movie[pos], gen, epoch))
        return row

    def _rating_epoch(
        self,
        step: _Step,
        users: torch.Tensor,
        movies: torch.Tensor,
        ratings: torch.Tensor,
        gen: torch.Generator,
        epoch: int,
    ) -> dict:
        total, sq_err, seen = 0.0, 0.0, 0
        for idx in _batches(
            users.numel(), self.cfg.rating_batch_size, self.cfg.rating_max_steps, gen
        ):
            u, m, r = (
                (users, movies, ratings) if idx is None else (users[idx], movies[idx], ratings[idx])
            )
            with self._autocast():
                pred = step.predict_ratings(u, m, gen).float()
                loss = torch.mean((pred - r) ** 2)
            self._step(self.opt_rating, loss, epoch, "rating")
            total += float(loss.detach()) * r.numel()
            sq_err += float(((pred.detach() - r) ** 2).sum())
            seen += r.numel()
        n = max(seen, 1)
        return {"train_loss": total / n, "train_rmse": math.sqrt(sq_err / n)}

    def _ranking_epoch(
        self,
        step: _Step,
        users: torch.Tensor,
        movies: torch.Tensor,
        gen: torch.Generator,
        epoch: int,
    ) -> dict:
        cfg = self.cfg
        total, seen, steps = 0.0, 0, 0
        for idx in _batches(users.numel(), cfg.rank_batch_size, cfg.rank_max_steps, gen):
            batch = (
                RankingBatch(users, movies)
                if idx is None
                else RankingBatch(users[idx], movies[idx])
            )
            with self._autocast():
                loss = step.ranking_loss(batch, gen)
            self._step(self.opt_ranking, loss, epoch, "ranking")
            total += float(loss.detach()) * batch.users.numel()
            seen += batch.users.numel()
            steps += 1
        return {"rank_loss": total / seen, "rank_steps": steps} if seen else {}

    def _step(self, opt: torch.optim.Optimizer, loss: torch.Tensor, epoch: int, name: str) -> None:
        if not torch.isfinite(loss):
            lr = self.cfg.lr if name == "rating" else self.cfg.rank_lr
            raise TrainingError(
                f"epoch {epoch}: the {name} loss is {loss.item()} (not finite); lower its learning "
                f"rate (now {lr}) or check the features for extreme values"
            )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def _autocast(self) -> contextlib.AbstractContextManager:
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=self.use_amp)

    @torch.no_grad()
    def _validate(self, epoch: int, state: _TrainState, row: dict, t: float) -> None:
        cfg, model = self.cfg, self.model
        model.eval()
        if not state.rating.done:
            with self._autocast():
                z_u, b_u, z_m, b_m, _ = model.encode_rating(
                    self.x_user, self.x_movie, self.full_graph
                )
            rmse = _rating_metrics(model, _RatingView(z_u, b_u, z_m, b_m), *self.val)["rmse"]
            row["val_rmse"] = rmse
            better = rmse < state.rating.best - cfg.min_delta
            state.rating.update(rmse, epoch, better, model.rating.state_dict(), t)
            state.rating.done = state.rating.bad_epochs >= cfg.patience
        if not state.ranking.done and self.probe is not None:
            with self._autocast():
                y_u, y_m, c_m, _ = model.encode_ranking(self.x_user, self.x_movie, self.full_graph)
            y_u, y_m, c_m = y_u.float(), y_m.float(), c_m.float()
            ndcg = self.probe.ndcg(
                lambda b, out: torch.addmm(c_m[None, :], y_u[b], y_m.T, out=out),
                self.graph.n_movies,
                self.device,
            )
            row[f"val_ndcg@{cfg.rank_select_k}"] = ndcg
            better = ndcg > state.ranking.best + cfg.min_delta
            state.ranking.update(ndcg, epoch, better, model.ranking.state_dict(), t)
            state.ranking.done = state.ranking.bad_epochs >= cfg.rank_patience

    def _log(
        self, row: dict, state: _TrainState, progress: Callable[[dict], None] | None, last: int
    ) -> None:
        k = self.cfg.rank_select_k
        log.info(
            "epoch %d: train RMSE %s, val RMSE %s, rank loss %s, val NDCG@%d %s",
            row["epoch"],
            _fmt(row.get("train_rmse")),
            _fmt(row.get("val_rmse")),
            _fmt(row.get("rank_loss")),
            k,
            _fmt(row.get(f"val_ndcg@{k}")),
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

    # ------------------------------------------------------------------ results and files

    def _finish(
        self,
        state: _TrainState,
        resumed_from: int | None,
        seconds: float,
        epochs_this_run: int,
        eval_seconds: float,
    ) -> TrainResult:
        model, cfg = self.model, self.cfg
        if self.fixed is None:
            if state.rating.snapshot is None and cfg.train_rating:
                raise TrainingError(
                    "no validation evaluation happened; raise --epochs or lower eval_every"
                )
            if state.rating.snapshot is not None:
                model.rating.load_state_dict(state.rating.snapshot)
            if model.ranking is not None and state.ranking.snapshot is not None:
                model.ranking.load_state_dict(state.ranking.snapshot)
        else:
            state.rating.best_epoch = min(self.fixed[0], state.epoch)
            state.ranking.best_epoch = min(self.fixed[1] or 0, state.epoch)
        model.eval()
        with torch.no_grad(), self._autocast():
            z_u, b_u, z_m, b_m, _ = model.encode_rating(self.x_user, self.x_movie, self.full_graph)
        enc = _RatingView(z_u, b_u, z_m, b_m)
        metrics = {}
        for part in ("train", "val", "test"):
            u, m, r = (t.to(self.device) for t in self.graph.part(part))
            metrics[part] = _rating_metrics(model, enc, u, m, r) if u.numel() else {}
        model_path = self.out / MODEL
        best_rank = state.ranking.best_epoch if model.ranking is not None else None
        save_model(
            model_path,
            model,
            self.model_cfg,
            cfg,
            metrics,
            state.history,
            state.rating.best_epoch,
            best_rank,
        )
        validated = self.fixed is None
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
            device=str(self.device),
            eval_seconds=eval_seconds,
            best_val_ndcg=state.ranking.best if validated and best_rank else None,
            stopped_by_budget=state.budget_spent,
            seconds_to_best=(
                {"rating": state.rating.seconds_to_best, "ranking": state.ranking.seconds_to_best}
                if validated
                else {}
            ),
        )

    def _identity(self) -> dict:
        return {
            "config": dataclasses.asdict(self.model_cfg),
            "train_config": result_config(self.cfg),
            "fixed_epochs": list(self.fixed) if self.fixed is not None else None,
        }

    def _resume(self) -> tuple[_TrainState, int | None]:
        path = self.out / CHECKPOINT
        if not path.exists():
            return _TrainState(), None
        ckpt = torch.load(path, weights_only=True, map_location=self.device)
        if {k: ckpt.get(k) for k in self._identity()} != self._identity():
            log.warning("checkpoint %s is from another configuration; starting afresh", path)
            return _TrainState(), None
        self.model.load_state_dict(ckpt["model"])
        self.opt_rating.load_state_dict(ckpt["opt_rating"])
        if self.opt_ranking is not None:
            self.opt_ranking.load_state_dict(ckpt["opt_ranking"])
        state = _TrainState.from_checkpoint(ckpt["state"])
        log.info("resuming from %s after epoch %d", path, state.epoch)
        return state, state.epoch

    def _save_checkpoint(self, state: _TrainState) -> None:
        path = self.out / CHECKPOINT
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        torch.save(
            {
                **self._identity(),
                "model": self.model.state_dict(),
                "opt_rating": self.opt_rating.state_dict(),
                "opt_ranking": self.opt_ranking.state_dict() if self.opt_ranking else None,
                "state": state.to_checkpoint(),
            },
            tmp,
        )
        tmp.replace(path)  # a crash mid-write never leaves a torn checkpoint


def _batches(
    n: int, size: int, max_steps: int, gen: torch.Generator
) -> Iterator[torch.Tensor | None]:
    """An epoch's mini-batches: a pass over n items in batches of `size` in random order, or
    `max_steps` batches of them where that is fewer (on 25M ratings a pass would be hundreds
    of steps between two validations). One batch of everything yields None: no permutation."""
    if n == 0:
        return
    if n <= size:
        yield None
        return
    perm = torch.randperm(n, generator=gen, device=gen.device)
    for step in range(min(max_steps, -(-n // size))):
        yield perm[step * size : (step + 1) * size]


@dataclasses.dataclass
class _Step:
    """What one optimiser step computes, over the epoch's message graph: on the full graph
    (every node encoded each step), or, on a graph with more than `sample_above` train edges,
    over sampled neighbourhoods of the batch's nodes only (reelgraph.sampling)."""

    trainer: _Trainer
    graph: MessageGraph
    keep: torch.Tensor | None

    def _block(self, users: torch.Tensor, movies: torch.Tensor, ids: bool, gen: torch.Generator):  # noqa: ANN202
        t = self.trainer
        return Block.build(
            t.neighbours,
            torch.unique(users),
            torch.unique(movies),
            t.cfg.fanouts,
            self.keep,
            gen,
            ids,
        )

    def predict_ratings(
        self, users: torch.Tensor, movies: torch.Tensor, gen: torch.Generator
    ) -> torch.Tensor:
        t, model = self.trainer, self.trainer.model
        if t.neighbours is None:
            z_u, b_u, z_m, b_m, _ = model.encode_rating(t.x_user, t.x_movie, self.graph)
            return model.predict(_RatingView(z_u, b_u, z_m, b_m), users, movies)  # type: ignore[arg-type]
        block = self._block(users, movies, model.rating.has_ids, gen)
        z_u, b_u, z_m, b_m = model.encode_rating_block(
            t.x_user, t.x_movie, self.graph, block, t.deviation_canonical
        )
        u, m = _local(block.users, users), _local(block.movies, movies)
        return model.predict(_RatingView(z_u, b_u, z_m, b_m), u, m)  # type: ignore[arg-type]

    def ranking_loss(self, batch: RankingBatch, gen: torch.Generator) -> torch.Tensor:
        t, model = self.trainer, self.trainer.model
        cand = t.objective.candidates(batch, gen)
        if t.neighbours is None:
            y_u, y_m, c_m, _ = model.encode_ranking(t.x_user, t.x_movie, self.graph)
            u, pos, cm = batch.users, batch.movies, cand.movies
        else:
            movies = torch.cat([batch.movies, cand.movies.reshape(-1)])
            block = self._block(batch.users, movies, model.ranking.has_ids, gen)
            y_u, y_m, c_m = model.encode_ranking_block(
                t.x_user, t.x_movie, self.graph, block, t.deviation_canonical
            )
            u, pos = _local(block.users, batch.users), _local(block.movies, batch.movies)
            cm = _local(block.movies, cand.movies)
        y_u, y_m, c_m = y_u.float(), y_m.float(), c_m.float()
        return t.objective.loss(
            y_u.index_select(0, u),
            y_m.index_select(0, pos),
            c_m.index_select(0, pos),
            y_m[cm],
            c_m[cm],
            batch,
            cand,
        )


def _local(seeds: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """Positions of ids in the sorted unique seed list."""
    return torch.searchsorted(seeds, ids)


@dataclasses.dataclass
class _RatingView:
    """The rating half of Encoded, which is all predict() reads."""

    z_user: torch.Tensor
    b_user: torch.Tensor
    z_movie: torch.Tensor
    b_movie: torch.Tensor


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.4f}"


def result_config(cfg: TrainConfig) -> dict:
    """The settings that decide the trained weights: a checkpoint resumes only under the same ones,
    and the checkpoint folder is keyed by them."""
    # How often we log or checkpoint does not change the result, so it may differ on resume.
    d = dataclasses.asdict(cfg)
    for k in ("log_every", "checkpoint_every", "device"):
        d.pop(k)
    return d


def save_model(
    path: Path,
    model: GraphSAGERecommender,
    model_cfg: ModelConfig,
    cfg: TrainConfig,
    metrics: dict,
    history: list[dict],
    best_epoch: int,
    best_rank_epoch: int | None,
) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(
        {
            "format": MODEL_FORMAT,
            "state_dict": model.state_dict(),
            "config": dataclasses.asdict(model_cfg),
            "train_config": dataclasses.asdict(cfg),
            "metrics": metrics,
            "history": history,
            "best_epoch": best_epoch,
            "best_rank_epoch": best_rank_epoch,
        },
        tmp,
    )
    tmp.replace(path)


def load_model(
    path: str | Path, device: str | torch.device = "cpu"
) -> tuple[GraphSAGERecommender, dict]:
    """The model and the rest of the file (config, metrics, history): plain tensors, weights_only."""
    d = torch.load(path, weights_only=True, map_location=device)
    if d.get("format") != MODEL_FORMAT:
        raise TrainingError(
            f"{path} was written by an older reelgraph (one shared encoder); train it again with "
            "`reelgraph run`"
        )
    model = GraphSAGERecommender(ModelConfig(**d["config"])).to(device)
    model.load_state_dict(d["state_dict"])
    model.eval()
    return model, d


def _snapshot(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in state_dict.items()}


@torch.no_grad()
def _rating_metrics(model, enc, users, movies, ratings) -> dict[str, float]:  # noqa: ANN001
    pred = model.clamp(model.predict(enc, users, movies).float())
    return rating_metrics(pred.cpu().numpy(), ratings.cpu().numpy())
