"""The ranking output's item filter (reelgraph.model.item_filter) at 25m's size: its fit (the
item choice, X'X, EASE's inverse, the rank-256 SVD), the users' rows, and every user's top-20
with the list's vectors at 64-d (no channel) and 320-d (with it), timed, with the peak RSS. The pairs are drawn at 25m's shape (162,000 users, 59,000 movies, 20M
train ratings, movie popularity ~ 1 / rank^0.9): the cost depends on sizes, not on who liked what.

    python bench/bench_item_filter.py [--ratings 20000000] [--dim 256]

Results: bench/results/item-filter.json.
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import torch
from helpers import ROOT, stamp

from reelgraph.graph.cooccurrence import interaction_gram
from reelgraph.model import item_filter as F


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--users", type=int, default=162_000)
    p.add_argument("--movies", type=int, default=59_000)
    p.add_argument("--ratings", type=int, default=20_000_000)
    p.add_argument("--dim", type=int, default=256)
    args = p.parse_args()
    g = torch.Generator().manual_seed(0)
    popularity = 1.0 / torch.arange(1, args.movies + 1).double() ** 0.9
    movies = torch.multinomial(popularity, args.ratings, replacement=True, generator=g)
    users = torch.randint(0, args.users, (args.ratings,), generator=g)
    seconds = {}
    t = time.perf_counter()
    items = F.select_items(movies, args.movies, 6000)
    gram = interaction_gram(users, movies, args.users, items, args.movies)
    seconds["X'X"] = time.perf_counter() - t
    t = time.perf_counter()
    b = F.ease_weights(gram, 250.0)
    seconds["EASE inverse"] = time.perf_counter() - t
    del gram, b
    channel = F.ItemFilter(args.movies, args.dim, 250.0, 6000)
    t = time.perf_counter()
    channel.fit(users, movies, args.users)
    seconds["whole fit"] = time.perf_counter() - t
    t = time.perf_counter()
    channel.user_vectors(users, movies, args.users)
    seconds["users' rows"] = time.perf_counter() - t
    for d in (64, 64 + args.dim):  # the list's vectors without and with the channel
        seconds[f"top-20 of every user, {d}-d"] = _scoring_seconds(args.users, args.movies, d)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    result = {**stamp(), **vars(args), "seconds": seconds, "peak_rss_gib": round(peak, 2)}
    out = ROOT / "bench" / "results" / "item-filter.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(", ".join(f"{k} {v:.1f} s" for k, v in seconds.items()), f"; peak {peak:.2f} GiB")


def _scoring_seconds(n_users: int, n_movies: int, dim: int, batch: int = 4096) -> float:
    """Full-catalogue top-20 of every user with `dim`-d ranking vectors, timed on three batches
    and scaled to n_users (the product and the top-K the scoring loop runs per batch)."""
    y_movie, y_user, bias = (
        torch.randn(n_movies, dim),
        torch.randn(batch, dim),
        torch.randn(n_movies),
    )
    out = torch.empty(batch, n_movies)
    torch.addmm(bias[None], y_user, y_movie.T, out=out)  # warm
    t = time.perf_counter()
    for _ in range(3):
        torch.topk(torch.addmm(bias[None], y_user, y_movie.T, out=out), 20, dim=1)
    return (time.perf_counter() - t) / 3 * n_users / batch


if __name__ == "__main__":
    main()
