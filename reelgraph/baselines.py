"""Baselines trained on the same split and scored by the same evaluation code as GraphSAGE.

global_mean, bias (regularised user + item biases), popularity, mf (biased matrix
factorisation, torch), ease (closed form, on the items with enough train ratings) and lightgcn
(torch_geometric.nn.LightGCN, BPR loss). Each knows how to `score` all movies for a batch of
users; the rating models also `predict` stars.

Imports only torch / torch_geometric / numpy.
"""

from __future__ import annotations

import dataclasses
import logging
import warnings

import numpy as np
import torch

from reelgraph.graph import RatingGraph
from reelgraph.metrics import RATING_MAX, RATING_MIN

log = logging.getLogger(__name__)


def _clamp(x: torch.Tensor) -> torch.Tensor:
    return x.clamp(RATING_MIN, RATING_MAX)


class GlobalMean:
    name = "global_mean"

    def __init__(self, graph: RatingGraph) -> None:
        self.mu = float(graph.part("train")[2].double().mean())
        self.n_movies = graph.n_movies

    def score(self, users: torch.Tensor) -> torch.Tensor:
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

    def score(self, users: torch.Tensor) -> torch.Tensor:
        return self.mu + self.bu[users, None] + self.bi[None, :]

    def predict(self, users: torch.Tensor, movies: torch.Tensor) -> torch.Tensor:
        return _clamp(self.mu + self.bu[users] + self.bi[movies])


class Popularity:
    name = "popularity"

    def __init__(self, graph: RatingGraph) -> None:
        self.counts = torch.bincount(graph.part("train")[1], minlength=graph.n_movies).float()

    def score(self, users: torch.Tensor) -> torch.Tensor:
        return self.counts.expand(users.numel(), -1)

    def predict(self, users: torch.Tensor, movies: torch.Tensor) -> None:
        return None


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
        opt = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        gen = torch.Generator().manual_seed(cfg.seed)
        best, best_state, bad = float("inf"), None, 0
        batch = max(cfg.batch_size, -(-u.numel() // cfg.max_steps_per_epoch))
        for _epoch in range(cfg.epochs):
            perm = torch.randperm(u.numel(), generator=gen)
            for s in range(0, u.numel(), batch):
                idx = perm[s : s + batch]
                bu_, bm_ = u[idx], m[idx]
                p, q = self.P[bu_], self.Q[bm_]
                pred = self.mu + self.bu[bu_] + self.bi[bm_] + (p * q).sum(-1)
                reg = (
                    cfg.reg
                    * (
                        (p**2).sum(-1) + (q**2).sum(-1) + self.bu[bu_] ** 2 + self.bi[bm_] ** 2
                    ).mean()
                )
                loss = torch.mean((pred - r[idx]) ** 2) + reg
                opt.zero_grad()
                loss.backward()
                opt.step()
            with torch.no_grad():
                rmse = float(torch.sqrt(torch.mean((self.predict(vu, vm) - vr) ** 2)))
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

    @torch.no_grad()
    def score(self, users: torch.Tensor) -> torch.Tensor:
        return self.mu + self.bu[users, None] + self.bi[None, :] + self.P[users] @ self.Q.T

    @torch.no_grad()
    def predict(self, users: torch.Tensor, movies: torch.Tensor) -> torch.Tensor:
        return _clamp(
            self.mu + self.bu[users] + self.bi[movies] + (self.P[users] * self.Q[movies]).sum(-1)
        )


class EASE:
    """Embarrassingly Shallow Autoencoder (Steck 2019): B = I - P / diag(P), P = (X'X + l I)^-1,
    on the `max_items` most rated movies with at least `min_ratings` train ratings so the
    item-item matrix fits in memory; other movies score lowest."""

    name = "ease"

    def __init__(
        self, graph: RatingGraph, reg: float = 250.0, min_ratings: int = 2, max_items: int = 6000
    ) -> None:
        u, m, _ = (t.numpy() for t in graph.part("train"))
        counts = np.bincount(m, minlength=graph.n_movies)
        eligible = np.flatnonzero(counts >= min_ratings)
        items = eligible[np.argsort(-counts[eligible], kind="stable")[:max_items]]
        self.items = torch.from_numpy(np.sort(items))
        col = np.full(graph.n_movies, -1)
        col[self.items.numpy()] = np.arange(self.items.numel())
        keep = col[m] >= 0
        x = torch.zeros(graph.n_users, self.items.numel())
        x[torch.from_numpy(u[keep]), torch.from_numpy(col[m[keep]])] = 1.0
        gram = (x.T @ x).double()
        gram += reg * torch.eye(gram.shape[0], dtype=torch.float64)
        p = torch.linalg.inv(gram)
        b = -p / torch.diagonal(p)[None, :]
        b.fill_diagonal_(0.0)
        self.B = b.float()
        self.X = x.to_sparse_csr()
        self.n_movies = graph.n_movies

    @torch.no_grad()
    def score(self, users: torch.Tensor) -> torch.Tensor:
        out = torch.full((users.numel(), self.n_movies), -1e9)
        rows = (
            torch.index_select(self.X.to_dense(), 0, users)
            if self.X.shape[0] < 50_000
            else self._rows(users)
        )
        out[:, self.items] = rows @ self.B
        return out

    def _rows(self, users: torch.Tensor) -> torch.Tensor:
        crow, col = self.X.crow_indices(), self.X.col_indices()
        dense = torch.zeros(users.numel(), self.B.shape[0])
        for i, uu in enumerate(users.tolist()):
            dense[i, col[crow[uu] : crow[uu + 1]]] = 1.0
        return dense

    def predict(self, users: torch.Tensor, movies: torch.Tensor) -> None:
        return None


@dataclasses.dataclass
class LightGCNConfig:
    dim: int = 64
    layers: int = 2
    lr: float = 0.005
    epochs: int = 30
    batch_size: int = 8192
    reg: float = 1e-4
    threshold: float = 4.0  # train ratings at least this are the positive interactions
    seed: int = 0


class LightGCNBaseline:
    """torch_geometric.nn.LightGCN on the positive train interactions, BPR loss with one random
    negative per positive; propagation over a torch-native sparse normalised adjacency."""

    name = "lightgcn"

    def __init__(self, graph: RatingGraph, cfg: LightGCNConfig | None = None) -> None:
        cfg = cfg or LightGCNConfig()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            from torch_geometric.nn import LightGCN

        torch.manual_seed(cfg.seed)
        u, m, r = graph.part("train")
        pos = r >= cfg.threshold
        u, m = u[pos], m[pos]
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
        opt = torch.optim.Adam(self.model.parameters(), lr=cfg.lr)
        gen = torch.Generator().manual_seed(cfg.seed)
        for _epoch in range(cfg.epochs):
            perm = torch.randperm(u.numel(), generator=gen)
            for s in range(0, u.numel(), cfg.batch_size):
                idx = perm[s : s + cfg.batch_size]
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

    def _propagate(self) -> torch.Tensor:
        # LightGCN.get_embedding with the adjacency as a torch sparse matrix (no torch-sparse).
        return self.model.get_embedding(self.adj)

    @torch.no_grad()
    def score(self, users: torch.Tensor) -> torch.Tensor:
        return self.emb[users] @ self.emb[self.n_users :].T

    def predict(self, users: torch.Tensor, movies: torch.Tensor) -> None:
        return None


class GraphSAGEAdapter:
    """The trained GraphSAGE behind the same interface as the baselines."""

    name = "graphsage"

    def __init__(self, scorer) -> None:  # noqa: ANN001 - reelgraph.scoring.Scorer
        self.scorer = scorer

    @torch.no_grad()
    def score(self, users: torch.Tensor) -> torch.Tensor:
        s = self.scorer
        return s.model.rank_all(s.enc, users.to(s.device)).float().cpu()

    @torch.no_grad()
    def predict(self, users: torch.Tensor, movies: torch.Tensor) -> torch.Tensor:
        s = self.scorer
        return (
            s.model.clamp(s.model.predict(s.enc, users.to(s.device), movies.to(s.device)))
            .float()
            .cpu()
        )


BASELINES = {
    "global_mean": GlobalMean,
    "bias": Bias,
    "popularity": Popularity,
    "mf": MF,
    "ease": EASE,
    "lightgcn": LightGCNBaseline,
}
