"""The closed-form item-item baselines: EASE, RP3beta and GF-CF. Each fits an item x item matrix W
from the train interactions X (users x items, 1 where the user rated the movie at least
`threshold`) and scores a user's row x_u as x_u W: no training loop, no epoch to choose.

- EASE (Steck 2019): W = I - P / diag(P), P = (X'X + lambda I)^-1 (a ridge regression of every
  item on the others, its own weight held at zero).
- RP3beta (Paudel et al. 2017; as in Dacrema et al.'s reproducibility study): the random walk
  item -> user -> item, each step's transition probability raised to `alpha`, every arrival
  at item j divided by its popularity^beta, each item's `neighbours` strongest arrivals kept.
- GF-CF (Shen et al. 2021): the normalised linear filter R~'R~ with R~ = D_u^-1/2 X D_i^-1/2,
  plus `alpha` times the ideal low-pass filter D_i^-1/2 V_k V_k' D_i^1/2 from the top `k`
  right singular vectors of R~.

All three model the `max_items` most rated movies with at least `min_ratings` train
interactions (W is dense: items^2 floats; at 6,000 items 144 MB), the same set for each; other
movies score lowest.

Imports only torch / numpy / scipy (scipy inside the fits).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from reelgraph.evaluate.rating_baselines import RankingOnly
from reelgraph.graph.cooccurrence import interaction_gram
from reelgraph.graph.ratings import RatingGraph
from reelgraph.model.item_filter import ease_weights, select_items


@dataclasses.dataclass
class ItemChoice:
    """Which movies an item-item model holds, and which ratings are interactions."""

    min_ratings: int = 2  # movies with fewer train ratings are left out of the item-item matrix ...
    max_items: int = 6000  # ... as are all but the most rated this many (memory: items^2 doubles)
    threshold: float = 0.5  # train ratings at least this are interactions (all)


@dataclasses.dataclass
class ItemSet:
    """Which movies an item-item model holds (columns of X, rows and columns of W), and X."""

    items: torch.Tensor  # (n_items,) sorted movie indices
    X: object  # scipy.sparse.csr_matrix (n_users, n_items), float32 ones

    @staticmethod
    def of(graph: RatingGraph, cfg: ItemChoice) -> ItemSet:
        import scipy.sparse as sp

        u, m, r = (t.numpy() for t in graph.part("train"))
        keep = r >= cfg.threshold
        u, m = u[keep], m[keep]
        items = select_items(
            torch.from_numpy(m), graph.n_movies, cfg.max_items, cfg.min_ratings
        ).numpy()
        col = np.full(graph.n_movies, -1)
        col[items] = np.arange(items.size)
        inside = col[m] >= 0
        X = sp.csr_matrix(
            (np.ones(int(inside.sum()), dtype=np.float32), (u[inside], col[m[inside]])),
            shape=(graph.n_users, items.size),
        )
        return ItemSet(torch.from_numpy(items), X)

    def gram(self) -> torch.Tensor:
        """X'X (float64 co-occurrence counts), by the product the GraphSAGE list's item filter
        uses (reelgraph.model.item_filter)."""
        rows, cols = self.X.nonzero()
        n_items = self.items.numel()
        return interaction_gram(
            torch.from_numpy(rows).long(),
            torch.from_numpy(cols).long(),
            self.X.shape[0],
            torch.arange(n_items),
            n_items,
        )


class ItemItem(RankingOnly):
    """score(u) = x_u W over the modelled items; every other movie ranks last."""

    name = "item_item"

    def __init__(self, graph: RatingGraph, items: ItemSet, W: np.ndarray) -> None:
        self.items, self.X = items.items, items.X
        self.W = torch.from_numpy(np.ascontiguousarray(W, dtype=np.float32))
        self.n_movies = graph.n_movies

    @torch.no_grad()
    def score(self, users: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        if out is None:
            out = torch.empty((users.numel(), self.n_movies))
        out.fill_(-1e9)  # movies outside the modelled items rank last
        # The users' sparse rows times W: at 25m 3.4 s per 16k users, against 8.9 s for their
        # rows made dense first.
        rows = self.X[users.cpu().numpy()]
        x = torch.sparse_csr_tensor(
            torch.from_numpy(rows.indptr.astype(np.int64)),
            torch.from_numpy(rows.indices.astype(np.int64)),
            torch.from_numpy(rows.data),
            size=rows.shape,
            check_invariants=False,  # scipy's own valid rows
        )
        out[:, self.items] = x @ self.W
        return out


@dataclasses.dataclass
class EASEConfig(ItemChoice):
    reg: float = 250.0  # L2 on the item-item weights (lambda)


class EASE(ItemItem):
    name = "ease"

    def __init__(self, graph: RatingGraph, cfg: EASEConfig | None = None) -> None:
        cfg = cfg or EASEConfig()
        items = ItemSet.of(graph, cfg)
        b = ease_weights(items.gram(), cfg.reg)
        super().__init__(graph, items, b.numpy())


@dataclasses.dataclass
class RP3betaConfig(ItemChoice):
    alpha: float = 1.0  # each transition probability raised to this power
    beta: float = 0.5  # popularity penalty: an arrival at item j is divided by its degree^beta
    neighbours: int = 200  # each item keeps its this many strongest arrivals (0: all)


class RP3beta(ItemItem):
    name = "rp3beta"

    def __init__(self, graph: RatingGraph, cfg: RP3betaConfig | None = None) -> None:
        import scipy.sparse as sp

        cfg = cfg or RP3betaConfig()
        items = ItemSet.of(graph, cfg)
        X = items.X.astype(np.float64)
        user_degree = np.asarray(X.sum(1)).ravel()
        item_degree = np.asarray(X.sum(0)).ravel()
        p_ui = (sp.diags(1.0 / np.maximum(user_degree, 1.0)) @ X).power(cfg.alpha)
        p_iu = (sp.diags(1.0 / np.maximum(item_degree, 1.0)) @ X.T.tocsr()).power(cfg.alpha)
        W = (p_iu @ p_ui).toarray()
        W *= np.maximum(item_degree, 1.0)[None, :] ** -cfg.beta
        np.fill_diagonal(W, 0.0)
        super().__init__(graph, items, strongest(W, cfg.neighbours))


def strongest(W: np.ndarray, k: int) -> np.ndarray:
    """W with each row's k largest entries kept and the rest zero (k 0 or >= width: W)."""
    if k <= 0 or k >= W.shape[1]:
        return W
    weakest = np.argpartition(W, W.shape[1] - k, axis=1)[:, : W.shape[1] - k]
    np.put_along_axis(W, weakest, 0.0, axis=1)
    return W


@dataclasses.dataclass
class GFCFConfig(ItemChoice):
    alpha: float = 0.3  # weight of the ideal low-pass filter beside the linear one
    k: int = 256  # singular vectors of the ideal low-pass filter (at most items - 1)


class GFCF(ItemItem):
    name = "gf_cf"

    def __init__(self, graph: RatingGraph, cfg: GFCFConfig | None = None) -> None:
        import scipy.sparse as sp

        cfg = cfg or GFCFConfig()
        items = ItemSet.of(graph, cfg)
        X = items.X.astype(np.float64)
        d_u = np.maximum(np.asarray(X.sum(1)).ravel(), 1.0) ** -0.5
        d_i = np.maximum(np.asarray(X.sum(0)).ravel(), 1.0) ** -0.5
        R = sp.diags(d_u) @ X @ sp.diags(d_i)
        W = (R.T @ R).toarray()  # the linear filter
        k = min(cfg.k, min(R.shape) - 1)
        if cfg.alpha and k > 0:
            vt = top_right_singular_vectors(R, k)
            W += cfg.alpha * (d_i[:, None] * (vt.T @ vt)) / d_i[None, :]
        super().__init__(graph, items, W)


def top_right_singular_vectors(R: object, k: int) -> np.ndarray:
    """(k, n_items) top right singular vectors of a sparse matrix, deterministic: ARPACK's
    start vector is fixed, and each vector's sign is set so its largest entry is positive (the
    low-pass filter V'V does not depend on signs; a fixed sign keeps runs bitwise alike)."""
    from scipy.sparse.linalg import svds

    v0 = np.full(min(R.shape), 1.0 / np.sqrt(min(R.shape)))
    _, _, vt = svds(R.tocsc(), k=k, v0=v0)
    signs = np.sign(vt[np.arange(k), np.abs(vt).argmax(1)])
    return vt * signs[:, None]
