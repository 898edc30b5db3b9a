"""The user-movie rating graph as plain tensors (its sparse adjacency: reelgraph.graph.sparse).

Imports only torch / torch_geometric / numpy so it runs on a GPU machine without DuckDB. The
file format is a dict of tensors (and lists of str), loadable with `torch.load(weights_only=True)`:
no pickled objects.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch

from reelgraph.core.folders import folder_for
from reelgraph.graph.keys import sorted_keys

T = TypeVar("T")


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
    # Values made from the edges once (see `derived`); a dataclasses.replace'd graph starts empty.
    _derived: dict = dataclasses.field(default_factory=dict, init=False, repr=False, compare=False)

    def derived(self, key: tuple, make: Callable[[], T]) -> T:
        """make() once per graph and key: what every user shard of a stage reads from all the
        edges (each user's train movies, the held-out relevance) is not sorted again per shard.
        A graph's tensors are never changed once it is built; models must not change them."""
        if key not in self._derived:
            self._derived[key] = make()
        return self._derived[key]

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

    def user_items(
        self, parts: tuple[str, ...] | None = None, min_rating: float = 0.0
    ) -> UserItems:
        """Each user's movies in `parts` (None: every part) rated at least min_rating, made once
        per graph: candidate exclusion (train, or everything rated), explanations (liked) and
        the validation probe all read it, and at 25m each build sorts millions of edges."""
        # Empty parts left out of the key: a graph of every rating (a refit's) has the same
        # train and all-parts sets, sorted once instead of twice.
        asked = tuple(self.edges) if parts is None else parts
        names = tuple(p for p in asked if self.edges[p].numel()) or asked

        def make() -> UserItems:
            e = (
                torch.cat([self.edges[p] for p in names], dim=1)
                if len(names) > 1
                else self.edges[names[0]]
            )
            keep = e[2] >= min_rating
            if bool(keep.all()):  # every rating (min_rating 0): no copies of 20M-long rows
                return UserItems.from_edges(e[0].long(), e[1].long(), self.n_users)
            return UserItems.from_edges(e[0, keep].long(), e[1, keep].long(), self.n_users)

        return self.derived(("user_items", names, min_rating), make)

    def save(self, path: str | Path) -> None:
        folder_for(path)
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
    def from_edges(
        users: np.ndarray | torch.Tensor, movies: np.ndarray | torch.Tensor, n_users: int
    ) -> UserItems:
        users = torch.as_tensor(users).to(torch.int64)
        movies = torch.as_tensor(movies).to(torch.int64)
        # One int64 key per pair, sorted by torch (0.8 s for 25M pairs in any order on 2 cores,
        # where np.lexsort of the two columns took 4 s, and every stage builds one of these;
        # none when they come sorted, as one part of a graph does). Equal keys are equal pairs.
        width = int(movies.max()) + 1 if movies.numel() else 1
        key = sorted_keys(users * width + movies)
        sorted_users = (key // width).numpy()
        return UserItems(
            np.searchsorted(sorted_users, np.arange(n_users + 1)), (key % width).numpy()
        )

    def of(self, user: int) -> np.ndarray:
        return self.items[self.indptr[user] : self.indptr[user + 1]]

    def count(self, users: np.ndarray) -> np.ndarray:
        return self.indptr[users + 1] - self.indptr[users]

    def pairs(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(row in batch, movie) of every movie of the batch's users, without a Python loop."""
        starts = self.indptr[batch]
        lens = self.indptr[np.asarray(batch) + 1] - starts
        total = int(lens.sum())
        rows = np.repeat(np.arange(len(batch)), lens)
        offsets = np.arange(total) - np.repeat(np.cumsum(lens) - lens, lens)
        return rows, self.items[np.repeat(starts, lens) + offsets]

    def mask(self, scores: torch.Tensor, batch: np.ndarray, fill: float) -> None:
        """Set, in place, each batch row's scores of this user's movies to `fill`."""
        rows, cols = self.pairs(batch)
        if rows.size:
            scores[
                torch.as_tensor(rows, device=scores.device),
                torch.as_tensor(cols, device=scores.device, dtype=torch.long),
            ] = fill


# Users per shard when scoring every user (published lists, evaluation): at 25m about 9
# shards of a few seconds each, each shard's score buffers a few hundred MB.
SHARD_USERS = 20_000


def user_shards(n_users: int, size: int = SHARD_USERS) -> list[range]:
    """Consecutive ranges of at most `size` user indices: the units that scoring every user
    fans out over. They depend on the graph and size only, never on the workers, so a run on a
    cluster adds the same shards up in the same order as a run in one process."""
    if size < 1:
        raise ValueError(f"shard size must be at least 1 user, got {size}")
    return [range(lo, min(lo + size, n_users)) for lo in range(0, n_users, size)]
