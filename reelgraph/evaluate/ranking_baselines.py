"""The trained ranking baselines: LightGCN and BPR-MF (epoch loops kept at their best validation
NDCG@20) and iALS (the implicit package). The closed-form ones: reelgraph.evaluate.item_filters.

Imports only torch / torch_geometric / numpy (iALS also scipy and implicit, when it is fitted)."""

from __future__ import annotations

import dataclasses
import time
import warnings

import numpy as np
import torch

from reelgraph.evaluate.probe import ValidationProbe
from reelgraph.evaluate.rating_baselines import RankingOnly, epoch_batches
from reelgraph.graph.ratings import RatingGraph
from reelgraph.model.top_k import ScoresOf


class _EpochSelection:
    """Keeps the parameters of the epoch with the best validation NDCG@20 (the probe GraphSAGE's
    ranking output is selected with) and says when `patience` epochs brought nothing better."""

    def __init__(
        self, graph: RatingGraph, patience: int, seed: int, max_minutes: float | None = None
    ) -> None:
        self.probe = ValidationProbe.build(graph, seed=seed)
        self.n_movies, self.patience = graph.n_movies, patience
        self.max_seconds = None if max_minutes is None else 60.0 * max_minutes
        self.stopped_by_budget = False
        self.best, self.best_epoch, self.bad = -1.0, 0, 0
        self.state: list[torch.Tensor] | None = None
        self.t0 = time.perf_counter()
        self.history: list[dict] = []  # epoch, seconds since fitting began, validation NDCG@20

    def stop_after(self, epoch: int, scores_of: ScoresOf, params: list[torch.Tensor]) -> bool:
        if self.probe is None:  # no validation ratings: keep the last epoch
            self.state, self.best_epoch = [p.detach().clone() for p in params], epoch
            return False
        ndcg = self.probe.ndcg(scores_of, self.n_movies)
        self.history.append(
            {"epoch": epoch, "seconds": time.perf_counter() - self.t0, "val_ndcg@20": ndcg}
        )
        if ndcg > self.best + 1e-4:
            self.best, self.best_epoch, self.bad = ndcg, epoch, 0
            self.state = [p.detach().clone() for p in params]
        else:
            self.bad += 1
        elapsed = time.perf_counter() - self.t0
        self.stopped_by_budget = self.max_seconds is not None and elapsed >= self.max_seconds
        return self.bad >= self.patience or self.stopped_by_budget

    def restore(self, params: list[torch.Tensor]) -> None:
        if self.state is not None:
            with torch.no_grad():
                for p, best in zip(params, self.state, strict=True):
                    p.copy_(best)


def _positives(graph: RatingGraph, threshold: float) -> tuple[torch.Tensor, torch.Tensor]:
    u, m, r = graph.part("train")
    keep = r >= threshold
    return u[keep], m[keep]


@dataclasses.dataclass
class LightGCNConfig:
    dim: int = 64
    layers: int = 2
    lr: float = 0.005
    epochs: int = 200  # at most: the epoch is chosen on validation NDCG@20
    patience: int = 10
    batch_size: int = 8192
    # Each step propagates over the whole graph; beyond this many steps per epoch the batches
    # grow instead (on 25M ratings an epoch of 8,192-pair steps took ~20 minutes).
    max_steps_per_epoch: int = 64
    reg: float = 1e-4
    threshold: float = 4.0  # train ratings at least this are the positive interactions
    max_minutes: float | None = None  # a time budget: stop after the epoch that passes it
    seed: int = 0


class LightGCNBaseline(RankingOnly):
    """torch_geometric.nn.LightGCN on the positive train interactions, BPR loss with one random
    negative per positive; propagation over a torch-native sparse normalised adjacency; the
    epoch with the best validation NDCG@20 is kept."""

    name = "lightgcn"

    def __init__(self, graph: RatingGraph, cfg: LightGCNConfig | None = None) -> None:
        cfg = cfg or LightGCNConfig()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            from torch_geometric.nn import LightGCN

        torch.manual_seed(cfg.seed)
        u, m = _positives(graph, cfg.threshold)
        self.n_users, n = graph.n_users, graph.n_users + graph.n_movies
        self.model = LightGCN(n, cfg.dim, cfg.layers)
        # Symmetric normalised adjacency D^-1/2 A D^-1/2 of the bipartite graph, as LightGCN uses.
        src = torch.cat([u, m + self.n_users])
        dst = torch.cat([m + self.n_users, u])
        deg = torch.bincount(src, minlength=n).float().clamp(min=1)
        w = deg[src].rsqrt() * deg[dst].rsqrt()
        self.adj = (
            torch.sparse_coo_tensor(torch.stack([dst, src]), w, (n, n), check_invariants=False)
            .coalesce()
            .to_sparse_csr()
        )
        opt = torch.optim.Adam(self.model.parameters(), lr=cfg.lr, fused=True)
        gen = torch.Generator().manual_seed(cfg.seed)
        select = _EpochSelection(graph, cfg.patience, cfg.seed, cfg.max_minutes)
        params = list(self.model.parameters())
        for epoch in range(1, cfg.epochs + 1):
            for idx in epoch_batches(u.numel(), cfg.batch_size, cfg.max_steps_per_epoch, gen):
                neg = torch.randint(0, graph.n_movies, (idx.numel(),), generator=gen) + self.n_users
                emb = self._propagate()
                ue, pe, ne = emb[u[idx]], emb[m[idx] + self.n_users], emb[neg]
                pos_s, neg_s = (ue * pe).sum(-1), (ue * ne).sum(-1)
                w0 = self.model.embedding.weight
                reg = (
                    cfg.reg
                    * (
                        w0[u[idx]].pow(2).sum()
                        + w0[m[idx] + self.n_users].pow(2).sum()
                        + w0[neg].pow(2).sum()
                    )
                    / idx.numel()
                )
                loss = torch.nn.functional.softplus(neg_s - pos_s).mean() + reg
                opt.zero_grad()
                loss.backward()
                opt.step()
            with torch.no_grad():
                self.emb = self._propagate()
            if select.stop_after(epoch, lambda b, out: self.score(b, out), params):
                break
        select.restore(params)
        self.best_epoch, self.history = select.best_epoch, select.history
        self.stopped_by_budget = select.stopped_by_budget
        with torch.no_grad():
            self.emb = self._propagate()

    def _propagate(self) -> torch.Tensor:
        # LightGCN.get_embedding with the adjacency as a torch sparse matrix (no torch-sparse).
        # PyG rebuilds it with sparse invariant checks off and warns that it did: nothing a
        # user can act on (the adjacency is built valid above).
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Sparse invariant checks")
            return self.model.get_embedding(self.adj)

    @torch.no_grad()
    def score(self, users: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        return torch.mm(self.emb[users], self.emb[self.n_users :].T, out=out)


@dataclasses.dataclass
class BPRMFConfig:
    dim: int = 64
    lr: float = 0.01
    reg: float = 1e-5  # L2 on the rows of each batch
    epochs: int = 200  # at most: the epoch is chosen on validation NDCG@20
    patience: int = 10
    batch_size: int = 8192
    max_steps_per_epoch: int = 256  # beyond, batches grow (25M ratings)
    threshold: float = 0.5  # train ratings at least this are positives (all)
    max_minutes: float | None = None  # a time budget: stop after the epoch that passes it
    seed: int = 0


class BPRMF(RankingOnly):
    """Matrix factorisation trained for the list (Rendle et al. 2009): score = <p_u, q_i> + b_i,
    BPR loss with one uniform negative per positive, Adam on mini-batches; the epoch with the
    best validation NDCG@20 is kept."""

    name = "bpr_mf"

    def __init__(self, graph: RatingGraph, cfg: BPRMFConfig | None = None) -> None:
        cfg = cfg or BPRMFConfig()
        torch.manual_seed(cfg.seed)
        u, m = _positives(graph, cfg.threshold)
        self.P = torch.nn.Parameter(torch.randn(graph.n_users, cfg.dim) * 0.01)
        self.Q = torch.nn.Parameter(torch.randn(graph.n_movies, cfg.dim) * 0.01)
        self.bi = torch.nn.Parameter(torch.zeros(graph.n_movies))
        params = [self.P, self.Q, self.bi]
        opt = torch.optim.Adam(params, lr=cfg.lr, fused=True)
        gen = torch.Generator().manual_seed(cfg.seed)
        select = _EpochSelection(graph, cfg.patience, cfg.seed, cfg.max_minutes)
        for epoch in range(1, cfg.epochs + 1):
            for idx in epoch_batches(u.numel(), cfg.batch_size, cfg.max_steps_per_epoch, gen):
                bu, bp = u[idx], m[idx]
                bn = torch.randint(0, graph.n_movies, (idx.numel(),), generator=gen)
                pu, qp, qn = self.P[bu], self.Q[bp], self.Q[bn]
                diff = (pu * (qp - qn)).sum(-1) + self.bi[bp] - self.bi[bn]
                reg = cfg.reg * (pu.square().sum() + qp.square().sum() + qn.square().sum())
                loss = torch.nn.functional.softplus(-diff).mean() + reg / idx.numel()
                opt.zero_grad()
                loss.backward()
                opt.step()
            if select.stop_after(epoch, lambda b, out: self.score(b, out), params):
                break
        select.restore(params)
        self.best_epoch, self.history = select.best_epoch, select.history
        self.stopped_by_budget = select.stopped_by_budget

    @torch.no_grad()
    def score(self, users: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        return torch.addmm(self.bi[None, :], self.P[users], self.Q.T, out=out)


@dataclasses.dataclass
class IALSConfig:
    # The setting `reelgraph tune` chose on ml-latest-small's validation (rounded), which also
    # won the 6-trial tuning at synthetic 25m. Validation NDCG@20 against the old defaults (64
    # factors, L2 0.05, alpha 2, 15 iterations), better on all four sets tried and cheaper:
    # ml-latest-small 0.2028 / 0.1985, synthetic small 0.1601 / 0.1434, quarter-25m 0.1514 /
    # 0.0580, 25m (unrounded) 0.1487 / 0.0529 (bench/BENCHMARKS.md). At the old ones iALS
    # listed below popularity above a few million ratings: a starved baseline for anyone
    # bringing a large export without a config.
    factors: int = 32
    regularization: float = 0.003
    alpha: float = 5.3  # confidence of an observed interaction: 1 + alpha
    iterations: int = 8
    threshold: float = 0.5  # train ratings at least this are interactions (all)
    seed: int = 0


class IALS(RankingOnly):
    """Implicit alternating least squares (Hu, Koren and Volinsky 2008) from the `implicit`
    package: every train interaction observed with confidence 1 + alpha, all else zero."""

    name = "ials"

    def __init__(self, graph: RatingGraph, cfg: IALSConfig | None = None) -> None:
        cfg = cfg or IALSConfig()
        import scipy.sparse as sp
        from implicit.cpu.als import AlternatingLeastSquares
        from threadpoolctl import threadpool_limits

        u, m = (t.numpy() for t in _positives(graph, cfg.threshold))
        user_items = sp.csr_matrix(
            (np.full(u.size, cfg.alpha, dtype=np.float32), (u, m)),
            shape=(graph.n_users, graph.n_movies),
        )
        # implicit runs its own threads; a multi-threaded BLAS under them only oversubscribes
        # (implicit checks, and warns, when the model is made).
        with threadpool_limits(1, "blas"):
            model = AlternatingLeastSquares(
                factors=cfg.factors,
                regularization=cfg.regularization,
                alpha=1.0,  # the confidence is in the matrix already
                iterations=cfg.iterations,
                random_state=cfg.seed,
            )
            model.fit(user_items, show_progress=False)
        self.users = torch.from_numpy(np.ascontiguousarray(model.user_factors))
        self.items = torch.from_numpy(np.ascontiguousarray(model.item_factors))

    @torch.no_grad()
    def score(self, users: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        return torch.mm(self.users[users], self.items.T, out=out)
