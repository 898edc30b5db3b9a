"""Re-score users with a trained model after new ratings arrive, without retraining.

GraphSAGE is inductive: a user's state is computed from the movies they rated. The refreshed
graph keeps the trained run's users (and their learned id embeddings) and appends users seen
for the first time (zero features, no id embedding); every rating now in raw.ratings passes
messages. Movies the model has never seen cannot be scored and are counted.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch

from reelgraph.graph.ratings import RatingGraph
from warehouse import connect


@dataclasses.dataclass(frozen=True)
class RefreshStats:
    ratings: int
    new_users: int
    skipped_unknown_movies: int
    # The model's users with no rating left in the export: they get no list.
    users_without_ratings: int = 0


def refreshed_graph(
    warehouse: str | Path, base: RatingGraph
) -> tuple[RatingGraph, RefreshStats, np.ndarray]:
    """The base graph with every rating now in raw.ratings; its stats; and the ids of the base
    users who have no rating left (they keep their index, so the model's id embeddings still
    line up, but get no list)."""
    con = connect(warehouse, read_only=True)
    try:
        r = con.execute(
            "SELECT user_id, movie_id, rating FROM raw.ratings ORDER BY user_id, movie_id"
        ).fetchnumpy()
    finally:
        con.close()
    users, movies, ratings = (np.asarray(r[c]) for c in ("user_id", "movie_id", "rating"))
    gone = np.setdiff1d(base.user_ids.numpy(), users)
    known_movies = base.movie_ids.numpy()
    pos = np.searchsorted(known_movies, movies)
    ok = (pos < known_movies.size) & (
        known_movies[np.minimum(pos, known_movies.size - 1)] == movies
    )
    users, movie_idx, ratings = users[ok], pos[ok], ratings[ok]
    base_users = base.user_ids.numpy()
    new = np.setdiff1d(np.unique(users), base_users)
    all_users = np.concatenate([base_users, new])  # known users keep their index
    order = np.argsort(all_users, kind="stable")
    user_idx = order[np.searchsorted(all_users[order], users)]
    x_user = torch.cat([base.x_user, torch.zeros(new.size, base.x_user.shape[1])])
    edges = torch.from_numpy(np.stack([user_idx, movie_idx, ratings]).astype(np.float32))
    empty = torch.zeros(3, 0)
    graph = dataclasses.replace(
        base,
        user_ids=torch.from_numpy(all_users.astype(np.int64)),
        x_user=x_user,
        edges={"train": edges, "val": empty, "test": empty},
    )
    stats = RefreshStats(int(ok.sum()), int(new.size), int((~ok).sum()), int(gone.size))
    return graph, stats, gone
