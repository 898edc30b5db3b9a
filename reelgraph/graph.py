"""The user-movie rating graph as plain tensors, and its torch-native sparse adjacency.

Imports only torch / torch_geometric / numpy so it runs on a GPU machine without DuckDB. The
file format is a dict of tensors (and lists of str), loadable with `torch.load(weights_only=True)`:
no pickled objects.
"""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import numpy as np
import torch

# torch marks CSR as beta on every construction; the API we use (construct, spmm) is stable.
warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")


@dataclasses.dataclass
class RatingGraph:
    """Users and movies indexed 0..n-1; edges are (user_idx, movie_idx, rating) per part."""

    user_ids: torch.Tensor  # (n_users,) int64: the MovieLens id of each user index
    movie_ids: torch.Tensor  # (n_movies,) int64
    x_user: torch.Tensor  # (n_users, user_dim) float32
    x_movie: torch.Tensor  # (n_movies, movie_dim) float32
    edges: dict[str, torch.Tensor]  # part -> (3, n) float32 rows: user_idx, movie_idx, rating
    user_features: list[str]
    movie_features: list[str]
    split_id: str = ""

    @property
    def n_users(self) -> int:
        return int(self.user_ids.numel())

    @property
    def n_movies(self) -> int:
        return int(self.movie_ids.numel())

    def part(self, name: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(user_idx int64, movie_idx int64, rating float32) of one part: train, val or test."""
        e = self.edges[name]
        return e[0].long(), e[1].long(), e[2].float()

    def save(self, path: str | Path) -> None:
        torch.save(
            {
                "user_ids": self.user_ids,
                "movie_ids": self.movie_ids,
                "x_user": self.x_user,
                "x_movie": self.x_movie,
                **{f"edges_{k}": v for k, v in self.edges.items()},
                "user_features": self.user_features,
                "movie_features": self.movie_features,
                "split_id": self.split_id,
            },
            path,
        )

    @staticmethod
    def load(path: str | Path) -> RatingGraph:
        d = torch.load(path, weights_only=True)
        return RatingGraph(
            user_ids=d["user_ids"],
            movie_ids=d["movie_ids"],
            x_user=d["x_user"],
            x_movie=d["x_movie"],
            edges={k[6:]: v for k, v in d.items() if k.startswith("edges_")},
            user_features=list(d["user_features"]),
            movie_features=list(d["movie_features"]),
            split_id=d.get("split_id", ""),
        )

    def to_hetero_data(self):  # noqa: ANN201 - torch_geometric.data.HeteroData
        """PyG's view: user and movie nodes with features, `rates` edges from TRAIN ratings with
        the rating as edge label, and the reverse edges (ToUndirected)."""
        import torch_geometric.transforms as T
        from torch_geometric.data import HeteroData

        data = HeteroData()
        data["user"].x = self.x_user
        data["movie"].x = self.x_movie
        u, m, r = self.part("train")
        data["user", "rates", "movie"].edge_index = torch.stack([u, m])
        data["user", "rates", "movie"].edge_label = r
        return T.ToUndirected()(data)


@dataclasses.dataclass(frozen=True)
class UserItems:
    """Each user's movies as CSR (numpy): `indptr` over user indices, movie indices sorted per
    user. One structure for "what a user rated in train" (candidate exclusion), "what they
    liked" (explanations) and "what is relevant to them" (evaluation)."""

    indptr: np.ndarray
    items: np.ndarray

    @staticmethod
    def from_edges(users: np.ndarray, movies: np.ndarray, n_users: int) -> UserItems:
        users, movies = np.asarray(users), np.asarray(movies)
        order = np.lexsort((movies, users))
        return UserItems(np.searchsorted(users[order], np.arange(n_users + 1)), movies[order])

    def of(self, user: int) -> np.ndarray:
        return self.items[self.indptr[user] : self.indptr[user + 1]]

    def count(self, users: np.ndarray) -> np.ndarray:
        return self.indptr[users + 1] - self.indptr[users]

    def mask(self, scores: torch.Tensor, batch: np.ndarray, fill: float) -> None:
        """Set, in place, each batch row's scores of this user's movies to `fill`."""
        lens = self.count(batch)
        if not lens.sum():
            return
        rows = torch.as_tensor(np.repeat(np.arange(len(batch)), lens), device=scores.device)
        cols = np.concatenate([self.of(u) for u in batch])
        scores[rows, torch.as_tensor(cols, device=scores.device, dtype=torch.long)] = fill


@dataclasses.dataclass
class BipartiteAdjacency:
    """CSR adjacency of the train edges in both directions, with a fixed sparsity pattern.

    Per-epoch edge weights (which edges pass messages, and their rating deviation) are set by
    re-weighting values on the fixed pattern: no re-sorting of millions of edges per epoch.
    """

    n_users: int
    n_movies: int
    user_idx: torch.Tensor  # (E,) edge order as given
    movie_idx: torch.Tensor
    to_movie_crow: torch.Tensor  # rows = movies, cols = users
    to_movie_col: torch.Tensor
    to_movie_perm: torch.Tensor  # CSR slot -> edge index
    to_user_crow: torch.Tensor  # rows = users, cols = movies
    to_user_col: torch.Tensor
    to_user_perm: torch.Tensor
    to_movie_rows: torch.Tensor  # the row (movie) of each CSR slot of the to_movie layout
    to_user_rows: torch.Tensor  # the row (user) of each CSR slot of the to_user layout

    @staticmethod
    def build(
        user_idx: torch.Tensor, movie_idx: torch.Tensor, n_users: int, n_movies: int
    ) -> BipartiteAdjacency:
        tm_perm, tm_crow, tm_col = _csr_pattern(movie_idx, user_idx, n_movies)
        tu_perm, tu_crow, tu_col = _csr_pattern(user_idx, movie_idx, n_users)
        return BipartiteAdjacency(
            n_users,
            n_movies,
            user_idx,
            movie_idx,
            tm_crow,
            tm_col,
            tm_perm,
            tu_crow,
            tu_col,
            tu_perm,
            movie_idx[tm_perm],
            user_idx[tu_perm],
        )

    def to(self, device: torch.device) -> BipartiteAdjacency:
        return dataclasses.replace(
            self,
            **{
                f.name: getattr(self, f.name).to(device)
                for f in dataclasses.fields(self)
                if isinstance(getattr(self, f.name), torch.Tensor)
            },
        )

    def message_matrices(
        self, keep: torch.Tensor | None, scale: torch.Tensor | None = None
    ) -> tuple[SparsePair, SparsePair]:
        """Adjacency toward movies and toward users whose weights average over the kept edges;
        `scale` is an optional per-edge factor. See message_relations."""
        return self.message_relations(keep, (scale,))[0]

    def message_relations(
        self, keep: torch.Tensor | None, scales: tuple[torch.Tensor | None, ...]
    ) -> list[tuple[SparsePair, SparsePair]]:
        """(toward movies, toward users) per relation, one relation per entry of `scales`.

        keep: (E,) bool, the edges passing messages (None: all). Every relation averages over
        the same kept edges, so the degrees and their gathers into each CSR layout are computed
        once per call (an epoch), and weights are placed directly in layout order: no sorting.
        """
        device = self.user_idx.device
        k = torch.ones(self.user_idx.numel(), device=device) if keep is None else keep.float()
        deg_m = (
            torch.zeros(self.n_movies, device=device)
            .index_add_(0, self.movie_idx, k)
            .clamp_(min=1.0)
        )
        deg_u = (
            torch.zeros(self.n_users, device=device).index_add_(0, self.user_idx, k).clamp_(min=1.0)
        )
        # Degrees seen from each CSR slot; in the to_user layout the columns are movies and
        # in the to_movie layout the columns are users.
        deg_m_tm, deg_m_tu = deg_m[self.to_movie_rows], deg_m[self.to_user_col]
        deg_u_tu, deg_u_tm = deg_u[self.to_user_rows], deg_u[self.to_movie_col]
        out = []
        for scale in scales:
            w = k if scale is None else k * scale
            w_tm, w_tu = w[self.to_movie_perm], w[self.to_user_perm]  # edge weights in each layout
            to_movie = SparsePair(
                self._csr("to_movie", w_tm / deg_m_tm), self._csr("to_user", w_tu / deg_m_tu)
            )
            to_user = SparsePair(
                self._csr("to_user", w_tu / deg_u_tu), self._csr("to_movie", w_tm / deg_u_tm)
            )
            out.append((to_movie, to_user))
        return out

    def _csr(self, layout: str, values: torch.Tensor) -> torch.Tensor:
        crow, col = getattr(self, f"{layout}_crow"), getattr(self, f"{layout}_col")
        shape = (
            (self.n_movies, self.n_users) if layout == "to_movie" else (self.n_users, self.n_movies)
        )
        # The pattern comes from _csr_pattern and is valid by construction: skip the O(nnz) checks.
        return torch.sparse_csr_tensor(crow, col, values, shape, check_invariants=False)


@dataclasses.dataclass
class SparsePair:
    """A CSR matrix with its transpose (also CSR), built once from the shared edge patterns.

    torch's own backward for CSR @ dense converts the matrix to its transpose on every call
    (a sort over all edges); with 20M edges that was 3/4 of an epoch. Keeping both layouts
    makes forward and backward one CSR product each."""

    matrix: torch.Tensor
    transpose: torch.Tensor

    def __matmul__(self, x: torch.Tensor) -> torch.Tensor:
        return _SpMM.apply(self.matrix, self.transpose, x)


class _SpMM(torch.autograd.Function):
    @staticmethod
    def forward(ctx, a: torch.Tensor, a_t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:  # noqa: ANN001
        ctx.a_t = a_t
        return torch.sparse.mm(a, x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # noqa: ANN001, ANN205
        # Edge weights are constants of the epoch: only the dense input gets a gradient.
        return None, None, torch.sparse.mm(ctx.a_t, grad)


def _csr_pattern(
    rows: torch.Tensor, cols: torch.Tensor, n_rows: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    # A stable sort keeps the within-row order deterministic, so CPU runs repeat exactly.
    perm = torch.sort(rows, stable=True).indices
    counts = torch.bincount(rows, minlength=n_rows)
    crow = torch.zeros(n_rows + 1, dtype=torch.int64, device=rows.device)
    crow[1:] = torch.cumsum(counts, 0)
    return perm, crow, cols[perm]
