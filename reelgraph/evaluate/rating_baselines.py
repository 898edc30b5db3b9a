"""The rating baselines (global mean, regularised biases, biased matrix factorisation) and popularity.

Imports only torch / numpy."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator

import numpy as np
import torch

from reelgraph.graph.ratings import RatingGraph
from reelgraph.model.decoder import clamp_rating


def epoch_batches(
    n: int, batch_size: int, max_steps: int, gen: torch.Generator
) -> Iterator[torch.Tensor]:
    """One pass over n training rows in random order, in batches of batch_size, grown where
    that would take more than max_steps steps (a pass over 25M ratings stays affordable)."""
    batch = max(batch_size, -(-n // max_steps))
    perm = torch.randperm(n, generator=gen)
    for start in range(0, n, batch):
        yield perm[start : start + batch]


class RankingOnly:
    """A baseline that ranks but predicts no stars: the rating metrics leave it out."""

    def predict(self, users: torch.Tensor, movies: torch.Tensor) -> None:
        return None


class GlobalMean:
    name = "global_mean"

    def __init__(self, graph: RatingGraph) -> None:
        self.mu = float(graph.part("train")[2].double().mean())
        self.n_movies = graph.n_movies

    def score(self, users: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        if out is not None:
            return out.fill_(self.mu)
        return torch.full((users.numel(), self.n_movies), self.mu)

    def predict(self, users: torch.Tensor, movies: torch.Tensor) -> torch.Tensor:
        return torch.full((users.numel(),), self.mu)


class Bias:
    """r = mu + b_u + b_i, fitted by alternating ridge updates (Koren's baseline predictor)."""

    name = "bias"

    def __init__(
        self, graph: RatingGraph, reg_user: float = 5.0, reg_item: float = 5.0, iterations: int = 15
    ) -> None:
        u, m, r = (t.numpy() for t in graph.part("train"))
        r = r.astype(np.float64)
        self.mu = r.mean()
        bu, bi = np.zeros(graph.n_users), np.zeros(graph.n_movies)
        nu = np.bincount(u, minlength=graph.n_users)
        ni = np.bincount(m, minlength=graph.n_movies)
        for _ in range(iterations):
            bi = np.bincount(m, weights=r - self.mu - bu[u], minlength=graph.n_movies) / (
                ni + reg_item
            )
            bu = np.bincount(u, weights=r - self.mu - bi[m], minlength=graph.n_users) / (
                nu + reg_user
            )
        self.bu, self.bi = torch.from_numpy(bu).float(), torch.from_numpy(bi).float()

    def score(self, users: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        return torch.add(self.bi[None, :], (self.mu + self.bu[users])[:, None], out=out)

    def predict(self, users: torch.Tensor, movies: torch.Tensor) -> torch.Tensor:
        return clamp_rating(self.mu + self.bu[users] + self.bi[movies])


class Popularity(RankingOnly):
    name = "popularity"

    def __init__(self, graph: RatingGraph) -> None:
        self.counts = torch.bincount(graph.part("train")[1], minlength=graph.n_movies).float()

    def score(self, users: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        row = self.counts.expand(users.numel(), -1)
        return row if out is None else out.copy_(row)


@dataclasses.dataclass
class MFConfig:
    dim: int = 32
    lr: float = 0.01
    weight_decay: float = 0.0
    reg: float = 0.05  # L2 on the factors and biases of each batch's rows
    epochs: int = 60
    batch_size: int = 65536
    # Adam updates every row of P and Q at each step, so on 20M ratings 305 steps of 65k made
    # one epoch take ~15 s; beyond this many steps per epoch the batches grow instead.
    max_steps_per_epoch: int = 64
    patience: int = 5
    seed: int = 0


class MF:
    """Biased matrix factorisation, r = mu + b_u + b_i + <p_u, q_i>, Adam on mini-batches,
    early-stopped on validation RMSE."""

    name = "mf"

    def __init__(self, graph: RatingGraph, cfg: MFConfig | None = None) -> None:
        cfg = cfg or MFConfig()
        torch.manual_seed(cfg.seed)
        u, m, r = graph.part("train")
        vu, vm, vr = graph.part("val")
        self.mu = float(r.double().mean())
        self.P = torch.nn.Parameter(torch.randn(graph.n_users, cfg.dim) * 0.01)
        self.Q = torch.nn.Parameter(torch.randn(graph.n_movies, cfg.dim) * 0.01)
        self.bu = torch.nn.Parameter(torch.zeros(graph.n_users))
        self.bi = torch.nn.Parameter(torch.zeros(graph.n_movies))
        params = [self.P, self.Q, self.bu, self.bi]
        # The fused kernel: one pass over each parameter instead of a dozen (at 25m the
        # factors are 7M numbers, updated every step).
        opt = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True)
        gen = torch.Generator().manual_seed(cfg.seed)
        best, best_state, bad = float("inf"), None, 0
        t0, self.history = time.perf_counter(), []
        # The train ratings as one table of (user, movie, rating) rows (float64 holds the indices
        # exactly): a batch is one gather of 24-byte rows, not three scattered reads of 20M-long
        # columns (at 25m, where the gathers were a quarter of the fit).
        table = torch.stack([u.double(), m.double(), r.double()], dim=1)
        for epoch in range(1, cfg.epochs + 1):
            for idx in epoch_batches(u.numel(), cfg.batch_size, cfg.max_steps_per_epoch, gen):
                rows = table[idx]
                self._set_gradients(
                    rows[:, 0].long(), rows[:, 1].long(), rows[:, 2].float(), cfg.reg
                )
                opt.step()
            with torch.no_grad():
                rmse = float(torch.sqrt(torch.mean((self.predict(vu, vm) - vr) ** 2)))
            self.history.append(
                {"epoch": epoch, "seconds": time.perf_counter() - t0, "val_rmse": rmse}
            )
            if rmse < best - 1e-4:
                best, bad = rmse, 0
                best_state = [t.detach().clone() for t in params]
            else:
                bad += 1
                if bad >= cfg.patience:
                    break
        with torch.no_grad():
            for t, b in zip(params, best_state or [t.detach() for t in params], strict=True):
                t.copy_(b)
        self.val_rmse = best

    def loss(
        self, users: torch.Tensor, movies: torch.Tensor, ratings: torch.Tensor, reg: float
    ) -> torch.Tensor:
        """The batch's objective: squared error plus L2 on the batch's rows (each a mean)."""
        p, q = self.P[users], self.Q[movies]
        b_u, b_i = self.bu[users], self.bi[movies]
        pred = self.mu + b_u + b_i + (p * q).sum(-1)
        penalty = ((p**2).sum(-1) + (q**2).sum(-1) + b_u**2 + b_i**2).mean()
        return torch.mean((pred - ratings) ** 2) + reg * penalty

    @torch.no_grad()
    def _set_gradients(
        self, users: torch.Tensor, movies: torch.Tensor, ratings: torch.Tensor, reg: float
    ) -> None:
        """The gradients of `loss`, written out: autograd's way made the fit twice as long
        (its advanced indexing and many elementwise passes over batch x dim tensors; see
        bench/BENCHMARKS.md), and this is the baseline's whole cost.
        tests/test_rating_baselines.py checks them against autograd's."""
        n = users.numel()
        p, q = self.P.index_select(0, users), self.Q.index_select(0, movies)
        b_u, b_i = self.bu.index_select(0, users), self.bi.index_select(0, movies)
        # d loss / d pred, per row: 2 (pred - r) / n; the penalty's: 2 reg x / n.
        d_pred = (p * q).sum(-1).add_(b_u).add_(b_i).add_(self.mu - ratings).mul_(2.0 / n)
        c = 2.0 * reg / n
        d_p = torch.addcmul(p * c, d_pred[:, None], q)
        d_q = torch.addcmul(q.mul_(c), d_pred[:, None], p)
        self.P.grad = torch.zeros_like(self.P).index_add_(0, users, d_p)
        self.Q.grad = torch.zeros_like(self.Q).index_add_(0, movies, d_q)
        self.bu.grad = torch.zeros_like(self.bu).index_add_(0, users, d_pred + c * b_u)
        self.bi.grad = torch.zeros_like(self.bi).index_add_(0, movies, d_pred + c * b_i)

    @torch.no_grad()
    def score(self, users: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        # One product into the buffer, one pass adding the user's part: the plain sum's four
        # batch x catalogue temporaries made its evaluation at quarter-25m 24.7 s, now 10.7 s.
        s = torch.addmm(self.bi[None, :], self.P[users], self.Q.T, out=out)
        return s.add_((self.mu + self.bu[users])[:, None])

    @torch.no_grad()
    def predict(self, users: torch.Tensor, movies: torch.Tensor) -> torch.Tensor:
        return clamp_rating(
            self.mu + self.bu[users] + self.bi[movies] + (self.P[users] * self.Q[movies]).sum(-1)
        )
