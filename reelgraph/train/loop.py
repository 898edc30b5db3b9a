"""Mini-batch training of the GraphSAGE recommender, with checkpoints and exact resume.

Each epoch splits the TRAIN edges at random into message edges (they build the adjacency) and
supervision edges (the losses are computed on them), as PyG's RandomLinkSplit does with a
disjoint train ratio: an edge never carries its own label through a message, which is also the
situation at validation/test time, when every train edge passes messages and the scored edges
are absent from the graph. Within the epoch each encoder takes many optimiser steps over
mini-batches of the supervision edges, each step propagating over the epoch's message graph
(its first-layer aggregates of the constant features are computed once per epoch, once per
training when every edge passes messages, the default):
  - the rating encoder: MSE on batches of `rating_batch_size` supervision edges;
  - the ranking encoder: the ranking loss (reelgraph.train.losses) on `rank_batch_size` positives.
An epoch is a pass over its supervision edges, or `*_max_steps` batches where that is fewer.
Above `sample_above` train edges a step computes only the batch's nodes, over sampled
neighbourhoods (reelgraph.graph.sampling): a full-graph step on 25M ratings costs 3-4 s.

Model selection: each output is taken from its own best epoch: the rating encoder at the best
validation RMSE of its weights' moving average over its steps (reelgraph.train.averaging), the
ranking encoder at the best validation NDCG@K (full catalogue, train movies excluded, on a
fixed sample of validation users). An output stops training when it has not improved for its
patience, and training ends when both have stopped. With `lr_decay_after`
(ranking: `rank_lr_decay_after`), its learning rate decays after every that many epochs
without improvement before then.

Refit (`fixed_epochs`): no validation; each encoder trains exactly its given number of epochs,
for a model refit on every rating with the settings chosen on validation, from scratch or from
the evaluated model's weights (`warm_start`; reelgraph.train.config.refit_epochs).

Determinism: every random draw of epoch e comes from seeds derived from (seed, e), so a run
resumed from a checkpoint after epoch e repeats the uninterrupted run exactly on CPU; the
ranking output draws from its own seeds, so how long the rating output trains leaves it as it is.
Also: config, steps, finish, selection, checkpoints (this package) and reelgraph.model.saved.
Imports torch/PyG/numpy only.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable
from pathlib import Path

import torch

from reelgraph.core.errors import TrainingError
from reelgraph.core.memory import keep_freed_memory
from reelgraph.evaluate.probe import ValidationProbe
from reelgraph.graph.ratings import RatingGraph
from reelgraph.graph.sampling import NeighbourIndex
from reelgraph.graph.sparse import BipartiteAdjacency
from reelgraph.model.recommender import GraphSAGERecommender, ModelConfig, message_graph
from reelgraph.model.saved import default_model_config, select_device, warm_start_weights
from reelgraph.train.averaging import StepAverage
from reelgraph.train.checkpoints import CHECKPOINT, Checkpoints
from reelgraph.train.config import TrainConfig, TrainResult
from reelgraph.train.distributed import ONE_PROCESS, Ranks
from reelgraph.train.epochs import pair_epoch, rating_epoch, user_list_epoch
from reelgraph.train.finish import finish, log_epoch
from reelgraph.train.losses import NegativeSampler, RankingObjective, UserLists
from reelgraph.train.selection import TrainState, decay_learning_rate
from reelgraph.train.steps import RatingView, Step, rating_metrics_of

log = logging.getLogger(__name__)

# Added to an epoch's seed for the ranking output's streams (far above any epoch count).
RANKING_STREAMS = 500_009


class Trainer:
    def __init__(
        self,
        graph: RatingGraph,
        out: Path,
        cfg: TrainConfig,
        model_cfg: ModelConfig | None,
        fixed_epochs: tuple[int, int | None] | None,
        ranks: Ranks = ONE_PROCESS,
        warm_start: str | Path | None = None,
    ) -> None:
        out.mkdir(parents=True, exist_ok=True)
        self.graph, self.out, self.cfg, self.fixed = graph, out, cfg, fixed_epochs
        self.ranks = ranks
        self.device = device = select_device(cfg.device)
        self.model_cfg = model_cfg or default_model_config(graph)
        self.model = model = self._first_model(warm_start)
        # Fused kernels: one pass over each parameter, not a dozen. At 25m the ranking encoder's
        # id embeddings are 14M numbers updated every step: 84 ms an update, 9 ms fused.
        self.opt_rating = torch.optim.AdamW(
            model.rating.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True
        )
        # What the rating output validates with and serves: its weights' average over its steps.
        self.rating_average = StepAverage(model.rating, cfg.rating_ema)
        self.opt_ranking = None
        if model.ranking is not None:
            self.opt_ranking = torch.optim.AdamW(
                model.ranking.parameters(),
                lr=cfg.rank_lr,
                weight_decay=cfg.rank_weight_decay,
                fused=True,
            )
        t_user, t_movie, t_rating = (t.to(device) for t in graph.part("train"))
        if t_user.numel() == 0:
            raise TrainingError("the split has no train ratings to learn from")
        self.x_user, self.x_movie = graph.x_user.to(device), graph.x_movie.to(device)
        self.content = standardised(self.x_movie)
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
        # Sorted, as torch.unique would give them, without sorting 20M movie indices.
        counts = torch.bincount(self.t_movie, minlength=graph.n_movies)
        self.rated_movies = torch.nonzero(counts).flatten()
        self._all_user_lists: UserLists | None = None
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
        warm = warm_start is not None
        self._checkpoints = Checkpoints(out / CHECKPOINT, self.model_cfg, cfg, fixed_epochs, warm)

    def _first_model(self, warm_start: str | Path | None) -> GraphSAGERecommender:
        """The model before its first epoch: a warm start's weights (the popularity penalty
        off: training learns the bias unpenalised; the rating basis the one it was trained
        with), else new weights whose ranking encoder starts from the spectral basis of the
        train positives (ModelConfig.rank_init), and the rating encoder's fixed movie inputs
        from that of every train rating (ModelConfig.rating_basis_dim)."""
        torch.manual_seed(self.cfg.seed)
        model = GraphSAGERecommender(self.model_cfg).to(self.device)
        if warm_start is not None:
            model.load_state_dict(warm_start_weights(warm_start, self.graph, self.device))
            model.popularity_penalty.zero_()
        else:
            users, movies, ratings = self.graph.part("train")
            positive = ratings >= self.cfg.rank_threshold
            model.spectral_start(users[positive], movies[positive])
            model.rating_basis.start(users, movies, self.graph.n_users)
        return model

    # ------------------------------------------------------------------ the loop

    def run(
        self,
        resume: bool,
        progress: Callable[[dict], None] | None,
        stop_after_epoch: int | None,
    ) -> TrainResult:
        cfg, model = self.cfg, self.model
        state, resumed_from = self._checkpoints.resume(self) if resume else (TrainState(), None)
        # The budget is this process's: a run it cut goes on from its checkpoint when run again
        # (to the same epochs an uncut run would reach), instead of keeping the cut outputs.
        state.budget_spent = False
        budget_start = time.perf_counter()
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
            if (state.rating.done and state.ranking.done) or state.budget_spent:
                break
            row = self._epoch(epoch, state)
            epochs_this_run += 1
            validates = epoch % cfg.eval_every == 0 or epoch == cfg.epochs
            decay = (False, False)  # (rating, ranking) learning rates to decay after this epoch
            if self.fixed is None and validates and self.ranks.leader:
                t_eval = time.perf_counter()
                decay = self._validate(epoch, state, row, time.perf_counter() - t0)
                eval_seconds += time.perf_counter() - t_eval
            state.elapsed = time.perf_counter() - t0
            row["seconds"] = round(state.elapsed, 3)
            if self.fixed is None and cfg.max_minutes:  # None or 0: no budget
                if time.perf_counter() - budget_start > 60 * cfg.max_minutes and not (
                    state.rating.done and state.ranking.done
                ):
                    state.budget_spent = True  # the outputs stay unfinished, for a resume
                    log.info(
                        "training budget of %s minutes spent after epoch %d", cfg.max_minutes, epoch
                    )
            # Rank 0 validated and timed: every rank stops, and decays, when it does.
            *flags, decay_rating, decay_ranking = self.ranks.follow_leader(
                state.rating.done, state.ranking.done, state.budget_spent, *decay
            )
            state.rating.done, state.ranking.done, state.budget_spent = flags
            for opt, due in ((self.opt_rating, decay_rating), (self.opt_ranking, decay_ranking)):
                if due:
                    decay_learning_rate(opt, cfg.lr_decay)
            state.history.append(row)
            state.epoch = epoch
            self._after_epoch(epoch, row, state, progress, last, stop_after_epoch)
        seconds = time.perf_counter() - t0
        if not self.ranks.leader:
            return None
        # The checkpoint keeps the last weights and optimiser state, so more epochs can follow.
        self._checkpoints.save(self, state)
        return finish(self, state, resumed_from, seconds, epochs_this_run, eval_seconds)

    def _after_epoch(
        self,
        epoch: int,
        row: dict,
        state: TrainState,
        progress: Callable[[dict], None] | None,
        last: int,
        stop_after_epoch: int | None,
    ) -> None:
        """Log, checkpoint (rank 0 only), and the simulated crash of resume tests."""
        cfg, leader = self.cfg, self.ranks.leader
        if leader and (epoch % cfg.log_every == 0 or epoch == 1):
            log_epoch(self.cfg.rank_select_k, row, state, progress, last)
        if leader and epoch % cfg.checkpoint_every == 0:
            self._checkpoints.save(self, state)
        if stop_after_epoch is not None and epoch >= stop_after_epoch:
            if leader:
                self._checkpoints.save(self, state)
            raise KeyboardInterrupt(f"simulated crash after epoch {epoch}")

    def _epoch(self, epoch: int, state: TrainState) -> dict:
        cfg, model = self.cfg, self.model
        seed = cfg.seed * 1_000_003 + epoch
        gen = self._streams(seed)
        model.train()
        n = self.t_user.numel()
        if cfg.message_fraction >= 1.0:
            # Every edge passes messages and supervises: the epoch's graph is the full one,
            # whose first-layer aggregates of the features are kept from epoch to epoch (at
            # 25m 0.6 s an epoch; 0.85 s with the other branch's three gathers).
            keep = sup = None
            s_user, s_movie, s_rating = self.t_user, self.t_movie, self.t_rating
            graph = self.full_graph
        else:
            keep = torch.rand(n, generator=gen, device=self.device) < cfg.message_fraction
            sup = ~keep
            # Each boolean gather over 20M train edges costs ~0.2 s on 2 cores: once per epoch.
            s_user, s_movie, s_rating = self.t_user[sup], self.t_movie[sup], self.t_rating[sup]
            graph = message_graph(self.adj, keep, self.deviation, reuse_inputs=True)
        step = Step(self, graph, keep)
        row: dict = {"epoch": epoch}
        if not state.rating.done:
            row.update(rating_epoch(self, step, s_user, s_movie, s_rating, gen, epoch))
        if not state.ranking.done:
            # The list's own streams: how long the rating output trains does not move it.
            gen = self._streams(seed + RANKING_STREAMS)
            if cfg.rank_loss == "multinomial":
                row.update(user_list_epoch(self, step, self._user_lists(sup), gen, epoch))
            else:
                pos = s_rating >= cfg.rank_threshold
                row.update(pair_epoch(self, step, s_user[pos], s_movie[pos], gen, epoch))
        return row

    def _streams(self, seed: int) -> torch.Generator:
        """Seeds what the next steps draw, and returns `gen`: the message mask and the batch
        order, alike on every rank. The global generator: dropout. self.draws: what a step
        samples (neighbours, negatives), each rank its own stream; one stream in one process."""
        torch.manual_seed(seed + 7_919 * self.ranks.rank)
        gen = torch.Generator(device=self.device).manual_seed(seed)
        self.draws = self.ranks.own_stream(gen, seed)
        return gen

    def _user_lists(self, sup: torch.Tensor | None) -> UserLists:
        """Each user's positive supervision movies this epoch (sup None: every edge supervises;
        then they are the same every epoch, kept)."""
        if sup is None and self._all_user_lists is not None:
            return self._all_user_lists
        pos = self.t_rating >= self.cfg.rank_threshold
        if sup is not None:
            pos &= sup
        lists = UserLists.of(self.t_user[pos], self.t_movie[pos], self.graph.n_users)
        if sup is None:
            self._all_user_lists = lists
        return lists

    def optimiser_step(
        self, opt: torch.optim.Optimizer, loss: torch.Tensor, epoch: int, name: str
    ) -> None:
        if self.ranks.single:
            self._check_finite(float(loss.detach()), epoch, name)
            opt.zero_grad(set_to_none=True)
            loss.backward()
        else:  # every rank learns the mean loss with the gradients, so all raise together
            opt.zero_grad(set_to_none=True)
            loss.backward()
            params = [p for group in opt.param_groups for p in group["params"]]
            self._check_finite(self.ranks.average_gradients(params, loss), epoch, name)
        opt.step()
        if opt is self.opt_rating:
            self.rating_average.update()

    def _check_finite(self, loss: float, epoch: int, name: str) -> None:
        if not math.isfinite(loss):
            lr = self.cfg.lr if name == "rating" else self.cfg.rank_lr
            raise TrainingError(
                f"epoch {epoch}: the {name} loss is {loss} (not finite); lower its learning "
                f"rate (now {lr}) or check the features for extreme values"
            )

    def autocast(self) -> contextlib.AbstractContextManager:
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=self.use_amp)

    @torch.no_grad()
    def _validate(self, epoch: int, state: TrainState, row: dict, t: float) -> tuple[bool, bool]:
        """Select each output on validation; (rating, ranking): whether its rate decays now."""
        cfg, model = self.cfg, self.model
        model.eval()
        if cfg.lr_decay_after or cfg.rank_lr_decay_after:  # the rates this epoch trained with
            row["lr"] = self.opt_rating.param_groups[0]["lr"]
            if self.opt_ranking is not None:
                row["rank_lr"] = self.opt_ranking.param_groups[0]["lr"]
        if not state.rating.done:
            with self.rating_average.swapped_in():  # so the snapshot of the best is the average
                with self.autocast():
                    z_u, b_u, z_m, b_m, _ = model.encode_rating(
                        self.x_user, self.x_movie, self.full_graph
                    )
                rmse = rating_metrics_of(model, RatingView(z_u, b_u, z_m, b_m), *self.val)["rmse"]
                row["val_rmse"] = rmse
                better = rmse < state.rating.best - cfg.min_delta
                state.rating.update(rmse, epoch, better, model.rating.state_dict(), t)
            state.rating.done = state.rating.bad_epochs >= cfg.patience
        if not state.ranking.done and self.probe is not None:
            with self.autocast():
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
        return (
            "val_rmse" in row
            and not state.rating.done
            and state.rating.decay_due(cfg.lr_decay_after, cfg.max_lr_decays),
            f"val_ndcg@{cfg.rank_select_k}" in row
            and not state.ranking.done
            and state.ranking.decay_due(cfg.rank_lr_decay_after, cfg.max_lr_decays),
        )


def standardised(x: torch.Tensor) -> torch.Tensor:
    """Each column at mean 0 and standard deviation 1 (a constant column at 0)."""
    spread = x.std(0).clamp(min=1e-6) if x.shape[0] > 1 else torch.ones_like(x[0])
    return (x - x.mean(0)) / spread


def train_rank(
    graph: RatingGraph,
    out_dir: str | Path,
    cfg: TrainConfig,
    model_cfg: ModelConfig | None = None,
    resume: bool = True,
    progress: Callable[[dict], None] | None = None,
    stop_after_epoch: int | None = None,
    fixed_epochs: tuple[int, int | None] | None = None,
    ranks: Ranks = ONE_PROCESS,
    warm_start: str | Path | None = None,
) -> TrainResult | None:
    """This process's part of a training (all of it in one process; one rank of several):
    reelgraph.train.fit.train's arguments, cfg given."""
    on_cpu = select_device(cfg.device).type == "cpu"
    with keep_freed_memory() if on_cpu else contextlib.nullcontext():
        trainer = Trainer(graph, Path(out_dir), cfg, model_cfg, fixed_epochs, ranks, warm_start)
        return trainer.run(resume, progress, stop_after_epoch)
