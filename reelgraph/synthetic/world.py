"""The latent world every synthetic file is drawn from (genre vectors, movie and user factors,
popularity, activity), the presets that size it, and the draws of (user, movie) pairs, ratings
and timestamps from it. See reelgraph.synthetic.generator for the structure it gives the data.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from reelgraph.core.conventions import RATING_MAX, RATING_MIN
from reelgraph.synthetic.vocabulary import (
    EPOCH_MONDAY_DAY,
    FIRST_DAY,
    GENRE_WEIGHTS,
    GENRES,
    HOUR_WEIGHTS,
    LAST_DAY,
    WEEKDAY_WEIGHTS,
)


@dataclasses.dataclass(frozen=True)
class Preset:
    name: str
    n_users: int
    n_movies: int
    n_rated_movies: int
    n_ratings: int
    n_tags: int
    genome_movies: int
    genome_tags: int
    max_movie_id: int
    latent_dim: int = 16


# The presets as a table: tiny for tests, then the shapes of ml-latest-small and ml-25m.
# (name, users, movies, rated movies, ratings, tags, genome movies, genome tags, max movie id)
_PRESET_ROWS = [
    ("tiny", 40, 120, 110, 1_600, 150, 60, 24, 400),
    ("small", 610, 9_742, 9_724, 100_836, 3_683, 0, 0, 193_609),
    # A quarter of 25m's users, ratings and tags over the same catalogue (capacity slopes).
    ("quarter-25m", 40_635, 62_423, 59_047, 6_250_024, 273_340, 13_816, 1_128, 209_171),
    ("25m", 162_541, 62_423, 59_047, 25_000_095, 1_093_360, 13_816, 1_128, 209_171),
]


PRESETS: dict[str, Preset] = {row[0]: Preset(*row) for row in _PRESET_ROWS}


MIN_RATINGS_PER_USER = 20


_USER_CHUNK_RATINGS = 2_000_000  # about 2M ratings per generation chunk keeps memory flat


@dataclasses.dataclass
class World:
    """Latent quantities shared by all files."""

    movie_ids: np.ndarray  # (n_movies,) sorted, sparse like MovieLens ids
    genre_matrix: np.ndarray  # (n_movies, n_genres) bool
    movie_factor: np.ndarray  # (n_movies, d)
    movie_bias: np.ndarray  # (n_movies,)
    popularity: np.ndarray  # (n_movies,) sampling weight, zero for never-rated movies
    user_taste: np.ndarray  # (n_users, n_genres) Dirichlet genre preferences
    user_taste_cdf: np.ndarray  # (n_users, n_genres) float32 cumulative taste, for sampling
    user_factor: np.ndarray  # (n_users, d)
    user_bias: np.ndarray  # (n_users,)
    user_half_stars: np.ndarray  # (n_users,) bool: uses half stars
    user_counts: np.ndarray  # (n_users,) ratings per user, sums to n_ratings
    user_first_day: np.ndarray  # (n_users,)
    user_span_days: np.ndarray  # (n_users,)
    genre_popularity_cdfs: list[np.ndarray]
    genre_members: list[np.ndarray]

    @property
    def global_popularity_cdf(self) -> np.ndarray:
        return np.cumsum(self.popularity) / self.popularity.sum()

    @staticmethod
    def draw(p: Preset, rng: np.random.Generator) -> World:
        n_genres = len(GENRES)
        movie_ids = np.sort(
            rng.choice(np.arange(1, p.max_movie_id + 1), size=p.n_movies, replace=False)
        )
        genre_matrix = _draw_genres(p.n_movies, rng)

        genre_vecs = rng.normal(0.0, 1.0, size=(n_genres, p.latent_dim)) / math.sqrt(p.latent_dim)
        n_g = np.maximum(genre_matrix.sum(1, keepdims=True), 1)
        movie_factor = genre_matrix @ genre_vecs / n_g + rng.normal(
            0, 0.25, (p.n_movies, p.latent_dim)
        ) / math.sqrt(p.latent_dim)

        # Power-law popularity over a random subset of rated movies; the rest are never rated.
        rated = np.zeros(p.n_movies, dtype=bool)
        rated[rng.choice(p.n_movies, size=p.n_rated_movies, replace=False)] = True
        rank = rng.permutation(p.n_rated_movies) + 1
        popularity = np.zeros(p.n_movies)
        popularity[rated] = rank.astype(float) ** -1.05
        # Popular movies are a little better liked, as in real data.
        movie_bias = rng.normal(0, 0.45, p.n_movies) + 0.25 * (
            np.log(popularity + 1e-12) > np.log(popularity[rated]).mean()
        )

        taste = rng.dirichlet(np.full(n_genres, 0.35), size=p.n_users)
        user_factor = taste @ genre_vecs * 2.5 + rng.normal(
            0, 0.5, (p.n_users, p.latent_dim)
        ) / math.sqrt(p.latent_dim)
        user_bias = rng.normal(0, 0.4, p.n_users)
        half_stars = rng.random(p.n_users) < 0.6

        counts = _user_counts(p, rng)
        first_day = rng.integers(FIRST_DAY, LAST_DAY - 30, size=p.n_users)
        span = np.minimum(rng.exponential(120.0, size=p.n_users) + 1, LAST_DAY - first_day)

        cdfs, members = [], []
        for g in range(n_genres):
            idx = np.flatnonzero(genre_matrix[:, g] & rated)
            if idx.size == 0:
                idx = np.flatnonzero(rated)
            w = popularity[idx]
            cdfs.append(np.cumsum(w) / w.sum())
            members.append(idx)
        return World(
            movie_ids,
            genre_matrix,
            movie_factor,
            movie_bias,
            popularity,
            taste,
            np.cumsum(taste, axis=1).astype(np.float32),
            user_factor,
            user_bias,
            half_stars,
            counts,
            first_day,
            span,
            cdfs,
            members,
        )


def _draw_genres(n_movies: int, rng: np.random.Generator) -> np.ndarray:
    n_genres = len(GENRES)
    k = np.clip(rng.poisson(1.2, n_movies) + 1, 1, 5)
    probs = GENRE_WEIGHTS / GENRE_WEIGHTS.sum()
    # Gumbel top-k: k distinct genres per movie, weighted by genre frequency.
    keys = np.log(probs)[None, :] - np.log(-np.log(rng.random((n_movies, n_genres))))
    order = np.argsort(-keys, axis=1)
    matrix = np.zeros((n_movies, n_genres), dtype=bool)
    chosen = np.arange(5)[None, :] < k[:, None]
    rows = np.nonzero(chosen)[0]
    matrix[rows, order[:, :5][chosen]] = True
    # About 1% of MovieLens movies have no genre at all.
    matrix[rng.random(n_movies) < 0.01] = False
    return matrix


def _user_counts(p: Preset, rng: np.random.Generator) -> np.ndarray:
    """Heavy-tailed ratings per user, at least 20 each, summing exactly to n_ratings."""
    cap = max(MIN_RATINGS_PER_USER, int(0.4 * p.n_rated_movies))
    if p.n_users * MIN_RATINGS_PER_USER > p.n_ratings or p.n_users * cap < p.n_ratings:
        raise ValueError(
            f"preset {p.name}: {p.n_ratings} ratings cannot be spread over {p.n_users} users"
        )
    raw = rng.lognormal(0.0, 1.25, p.n_users)
    extra_total = p.n_ratings - p.n_users * MIN_RATINGS_PER_USER
    counts = np.full(p.n_users, MIN_RATINGS_PER_USER, dtype=np.int64)
    room = cap - counts
    remaining = extra_total
    weights = raw.copy()
    # Water-filling: share the extra ratings by weight, capping heavy users and re-sharing.
    while remaining > 0:
        active = room > 0
        share = weights * active
        share = share / share.sum() * remaining
        add = np.minimum(np.floor(share).astype(np.int64), room)
        if add.sum() == 0:
            # Hand out the last few one by one to the heaviest users with room.
            order = np.argsort(-(weights * active))
            add = np.zeros_like(counts)
            add[order[:remaining]] = 1
            add = np.minimum(add, room)
        counts += add
        room -= add
        remaining = p.n_ratings - counts.sum()
    return counts


def user_chunks(counts: np.ndarray) -> list[np.ndarray]:
    cum = np.cumsum(counts)
    bounds = np.searchsorted(cum, np.arange(_USER_CHUNK_RATINGS, cum[-1], _USER_CHUNK_RATINGS))
    edges = np.unique(np.concatenate([[0], bounds, [len(counts)]]))
    return [np.arange(a, b) for a, b in zip(edges[:-1], edges[1:], strict=True) if b > a]


def sample_pairs(
    users: np.ndarray, w: World, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (user, movie) pairs: counts[u] per user, half from taste genres, half by popularity."""
    n_movies = len(w.movie_ids)
    need = w.user_counts[users]
    local_keys = np.empty(0, dtype=np.int64)
    have = np.zeros(len(users), dtype=np.int64)
    global_cdf = w.global_popularity_cdf
    for _ in range(8):
        deficit = need - have
        if not (deficit > 0).any():
            break
        draws = np.where(deficit > 0, np.ceil(deficit * 1.3).astype(np.int64) + 2, 0)
        local_user = np.repeat(np.arange(len(users)), draws)
        movie = np.empty(local_user.size, dtype=np.int64)
        by_taste = rng.random(local_user.size) < 0.5
        # Popularity draws over all rated movies (with a little uniform mass so tails are reachable).
        pop_idx = np.flatnonzero(~by_taste)
        movie[pop_idx] = np.minimum(
            np.searchsorted(global_cdf, rng.random(pop_idx.size)), n_movies - 1
        )
        # Taste draws: genre by the user's taste, then a movie of that genre by popularity.
        taste_idx = np.flatnonzero(by_taste)
        taste_cdf = w.user_taste_cdf[users[local_user[taste_idx]]]
        genre = (rng.random((taste_idx.size, 1)) > taste_cdf).sum(1)
        genre = np.minimum(genre, taste_cdf.shape[1] - 1)
        for g in np.unique(genre):
            sel = taste_idx[genre == g]
            pos = np.searchsorted(w.genre_popularity_cdfs[g], rng.random(sel.size))
            movie[sel] = w.genre_members[g][np.minimum(pos, len(w.genre_members[g]) - 1)]
        local_keys = _sorted_unique(np.concatenate([local_keys, local_user * n_movies + movie]))
        have = np.bincount(local_keys // n_movies, minlength=len(users))
    else:
        local_keys = _fill_uniformly(local_keys, need, w, rng)
    # Keep a random subset of exactly need[u] pairs per user.
    user_of = local_keys // n_movies
    priority = rng.random(local_keys.size)
    order = np.lexsort((priority, user_of))
    user_sorted = user_of[order]
    starts = np.searchsorted(user_sorted, np.arange(len(users)))
    rank = np.arange(order.size) - starts[user_sorted]
    kept = local_keys[order[rank < need[user_sorted]]]
    return users[kept // n_movies], kept % n_movies


def _sorted_unique(a: np.ndarray) -> np.ndarray:
    # np.unique on numpy >= 2.3 hashes int64 arrays, which is far slower than sorting here.
    a = np.sort(a)
    return a[np.concatenate([[True], a[1:] != a[:-1]])] if a.size else a


def _fill_uniformly(
    keys: np.ndarray, need: np.ndarray, w: World, rng: np.random.Generator
) -> np.ndarray:
    """Top up the rare very heavy user whose popularity draws kept repeating, from unseen rated movies."""
    n_movies = len(w.movie_ids)
    user_of = keys // n_movies
    have = np.bincount(user_of, minlength=len(need))
    starts = np.searchsorted(user_of, np.arange(len(need) + 1))
    extra = []
    for u in np.flatnonzero(have < need):
        unseen = w.popularity > 0
        unseen[keys[starts[u] : starts[u + 1]] % n_movies] = False
        extra.append(
            u * n_movies + rng.choice(np.flatnonzero(unseen), size=need[u] - have[u], replace=False)
        )
    return _sorted_unique(np.concatenate([keys, *extra]))


def rate(
    user_idx: np.ndarray, movie_idx: np.ndarray, w: World, rng: np.random.Generator
) -> np.ndarray:
    match = np.einsum("ij,ij->i", w.user_factor[user_idx], w.movie_factor[movie_idx])
    raw = (
        3.2
        + w.user_bias[user_idx]
        + w.movie_bias[movie_idx]
        + 2.2 * match
        + rng.normal(0, 0.55, user_idx.size)
    )
    step = np.where(w.user_half_stars[user_idx], 0.5, 1.0)
    return np.clip(np.round(raw / step) * step, RATING_MIN, RATING_MAX)


def timestamps(user_idx: np.ndarray, w: World, rng: np.random.Generator) -> np.ndarray:
    n = user_idx.size
    # Most of a user's ratings come early in their active span, as MovieLens onboarding does.
    offset = np.floor(w.user_span_days[user_idx] * rng.beta(0.6, 2.0, n)).astype(np.int64)
    day = w.user_first_day[user_idx] + offset
    weekday = rng.choice(7, size=n, p=WEEKDAY_WEIGHTS / WEEKDAY_WEIGHTS.sum())
    monday = day - (day - EPOCH_MONDAY_DAY) % 7
    hour = rng.choice(24, size=n, p=HOUR_WEIGHTS / HOUR_WEIGHTS.sum())
    return (monday + weekday) * 86_400 + hour * 3_600 + rng.integers(0, 3_600, n)
