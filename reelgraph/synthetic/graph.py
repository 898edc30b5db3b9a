"""A synthetic RatingGraph built in memory with numpy and torch alone, for machines without
DuckDB or Polars (the lent GPU box): the same latent world as `reelgraph.synthetic.generator`, with
features of the real shapes (34 per user, 74 per movie) derived from it.

    python -m reelgraph.synthetic.graph --preset 25m --out graph.pt
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from reelgraph.graph.ratings import RatingGraph
from reelgraph.synthetic.world import PRESETS, World, rate, sample_pairs, user_chunks

USER_DIM, MOVIE_DIM = 34, 74


def make_graph(
    preset: str = "small", seed: int = 0, val_fraction: float = 0.1, test_fraction: float = 0.1
) -> RatingGraph:
    p = PRESETS[preset]
    ss = np.random.SeedSequence(seed)
    rng_world, rng_ratings, rng_split = (np.random.default_rng(s) for s in ss.spawn(3))
    w = World.draw(p, rng_world)
    users, movies, ratings = [], [], []
    for chunk in user_chunks(w.user_counts):
        crng = np.random.default_rng(rng_ratings.integers(0, 2**63))
        u, m = sample_pairs(chunk, w, crng)
        users.append(u)
        movies.append(m)
        ratings.append(rate(u, m, w, crng))
    u, m, r = (np.concatenate(x) for x in (users, movies, ratings))
    part = rng_split.random(u.size)
    x_user = np.zeros((p.n_users, USER_DIM), np.float32)
    x_user[:, : w.user_taste.shape[1]] = (
        w.user_taste
    )  # observable taste stands in for rating habits
    x_movie = np.zeros((p.n_movies, MOVIE_DIM), np.float32)
    x_movie[:, : w.genre_matrix.shape[1]] = w.genre_matrix
    x_movie[:, 20] = np.log1p(np.bincount(m, minlength=p.n_movies)) / np.log1p(np.bincount(m).max())
    cut_val, cut_test = 1 - val_fraction - test_fraction, 1 - test_fraction
    parts = {
        "train": part < cut_val,
        "val": (part >= cut_val) & (part < cut_test),
        "test": part >= cut_test,
    }
    edges = {
        k: torch.from_numpy(np.stack([u[s], m[s], r[s]]).astype(np.float32))
        for k, s in parts.items()
    }
    return RatingGraph(
        user_ids=torch.arange(1, p.n_users + 1),
        movie_ids=torch.from_numpy(w.movie_ids.astype(np.int64)),
        x_user=torch.from_numpy(x_user),
        x_movie=torch.from_numpy(x_movie),
        edges=edges,
        user_features=[f"u{i}" for i in range(USER_DIM)],
        movie_features=[f"m{i}" for i in range(MOVIE_DIM)],
        split_id=f"synthetic-{preset}-{seed}",
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="small", choices=list(PRESETS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    g = make_graph(args.preset, args.seed)
    g.save(args.out)
    print({k: v.shape[1] for k, v in g.edges.items()})


if __name__ == "__main__":
    main()
