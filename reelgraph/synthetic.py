"""Synthetic MovieLens: the same six CSV files, with structure a model can learn.

Why synthetic: MovieLens may not be redistributed, so tests and scale benchmarks need data we
make ourselves. The generator is seeded and exactly repeatable, and streams each file to disk in
chunks so the 25m preset stays far inside memory.

Structure (so ranking and rating models have something real to find):
- genres get latent vectors; a movie's factor is its genres' mean plus noise, a user's factor is
  their genre taste (a Dirichlet draw) mapped through the same vectors plus noise;
- users pick movies partly from their favourite genres and partly by power-law popularity;
- activity per user is heavy-tailed (at least 20 ratings, as MovieLens guarantees);
- rating = mean + user bias + movie bias + taste match + noise, rounded to half stars (or whole
  stars for users who never use halves), which gives MovieLens' skew towards 3-4 stars;
- timestamps follow an evening peak and a weekend bump (UTC);
- genome relevance is high for tags whose home genre the movie has.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import NamedTuple

import numpy as np

from reelgraph.conventions import NO_GENRES, RATING_MAX, RATING_MIN

GENRES: tuple[str, ...] = (
    "Action",
    "Adventure",
    "Animation",
    "Children",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "IMAX",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
)
# Relative frequency of each genre on a movie, roughly as in ml-25m.
_GENRE_WEIGHTS = np.array(
    [
        7.3,
        4.1,
        2.9,
        2.9,
        16.9,
        5.3,
        5.6,
        25.6,
        2.9,
        0.4,
        5.6,
        0.2,
        1.1,
        2.9,
        7.6,
        3.8,
        8.6,
        1.5,
        1.1,
    ]
)
# Hour-of-day and day-of-week (Mon..Sun) weights: evening peak, weekend bump.
_HOUR_WEIGHTS = np.array(
    [
        3,
        2,
        1.5,
        1,
        0.7,
        0.6,
        0.8,
        1.2,
        1.8,
        2.4,
        3,
        3.4,
        3.6,
        3.6,
        3.6,
        3.8,
        4,
        4.4,
        5,
        5.6,
        6,
        6,
        5.4,
        4.2,
    ]
)
_WEEKDAY_WEIGHTS = np.array([1.0, 0.95, 0.95, 0.95, 1.0, 1.25, 1.35])
_TITLE_WORDS = (
    "Love",
    "Night",
    "Return",
    "Last",
    "City",
    "Dark",
    "Secret",
    "Blood",
    "Dream",
    "King",
    "Road",
    "Star",
    "Ghost",
    "River",
    "Summer",
    "War",
    "House",
    "Girl",
    "Man",
    "Story",
    "Game",
    "Fire",
    "Winter",
    "Island",
    "Shadow",
    "Heart",
    "Storm",
    "Garden",
    "Empire",
    "Machine",
)
_TAG_ADJECTIVES = (
    "dark",
    "funny",
    "slow",
    "epic",
    "quirky",
    "violent",
    "witty",
    "tense",
    "sad",
    "bleak",
    "stylish",
    "cheesy",
    "gritty",
    "moving",
    "clever",
    "silly",
    "surreal",
    "romantic",
    "scary",
    "brutal",
    "cute",
    "smart",
    "absurd",
    "gory",
    "weird",
    "tragic",
    "campy",
    "bittersweet",
    "visually appealing",
    "thought-provoking",
    "atmospheric",
    "suspenseful",
    "hilarious",
    "heartwarming",
    "predictable",
    "original",
    "beautiful",
    "boring",
    "intense",
    "dreamlike",
)
_TAG_NOUNS = (
    "comedy",
    "ending",
    "plot",
    "music",
    "soundtrack",
    "dialogue",
    "cinematography",
    "story",
    "characters",
    "acting",
    "twist",
    "villain",
    "heroine",
    "hero",
    "violence",
    "humor",
    "atmosphere",
    "visuals",
    "romance",
    "friendship",
    "family",
    "space",
    "future",
    "crime",
    "revenge",
    "war",
    "magic",
    "monsters",
    "robots",
)

EPOCH_MONDAY_DAY = 4  # 1970-01-05 was a Monday: day 4 since the epoch.
FIRST_DAY = 9139  # 1995-01-09 (first ratings in MovieLens), in days since the epoch
LAST_DAY = 18201  # 2019-11-01


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


class GeneratedDataset(NamedTuple):
    directory: Path
    preset: str
    seed: int
    row_counts: dict[str, int]


def generate(preset: str | Preset, out_dir: str | Path, seed: int = 0) -> GeneratedDataset:
    """Write ratings/movies/tags/links (and genome files when the preset has them) to out_dir."""
    if isinstance(preset, str):
        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
        p = PRESETS[preset]
    else:
        p = preset
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # One independent stream per part: adding a file later never shifts the others.
    ss = np.random.SeedSequence(seed)
    rng_world, rng_movies, rng_ratings, rng_tags, rng_genome = (
        np.random.default_rng(s) for s in ss.spawn(5)
    )

    world = _World.draw(p, rng_world)
    counts: dict[str, int] = {}
    counts["movies.csv"] = _write_movies(p, world, rng_movies, out / "movies.csv")
    counts["links.csv"] = _write_links(p, world, rng_movies, out / "links.csv")
    counts["ratings.csv"] = _write_ratings(p, world, rng_ratings, out / "ratings.csv")
    tag_names = _tag_vocabulary(max(p.genome_tags, 64))
    counts["tags.csv"] = _write_tags(p, world, rng_tags, tag_names, out / "tags.csv")
    if p.genome_movies > 0:
        counts["genome-tags.csv"] = _write_genome_tags(p, tag_names, out / "genome-tags.csv")
        counts["genome-scores.csv"] = _write_genome_scores(
            p, world, rng_genome, out / "genome-scores.csv"
        )
    return GeneratedDataset(directory=out, preset=p.name, seed=seed, row_counts=counts)


@dataclasses.dataclass
class _World:
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
    def draw(p: Preset, rng: np.random.Generator) -> _World:
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
        return _World(
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
    probs = _GENRE_WEIGHTS / _GENRE_WEIGHTS.sum()
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


def _write_movies(p: Preset, w: _World, rng: np.random.Generator, path: Path) -> int:
    import polars as pl  # only the CSV writers need it; the GPU machine has none

    n = p.n_movies
    years = np.clip(np.round(rng.normal(1995, 18, n)), 1902, 2019).astype(int)
    first = rng.integers(0, len(_TITLE_WORDS), n)
    second = rng.integers(0, len(_TITLE_WORDS), n)
    style = rng.random(n)
    titles = []
    for i in range(n):
        base = f"{_TITLE_WORDS[first[i]]} {_TITLE_WORDS[second[i]]} {w.movie_ids[i]}"
        if style[i] < 0.005:
            titles.append(base)  # no year at all, as for some MovieLens titles
        elif style[i] < 0.01:
            titles.append(f"{base} ({years[i]}-{min(years[i] + 1, 2019)})")  # a TV-series range
        elif style[i] < 0.02:
            titles.append(f"{base} ({years[i]}) ")  # a trailing space
        elif style[i] < 0.06:
            titles.append(f"{base}, The ({years[i]})")  # a comma, so the field is quoted
        else:
            titles.append(f"{base} ({years[i]})")
    genre_names = np.array(GENRES)
    genres = ["|".join(genre_names[row]) if row.any() else NO_GENRES for row in w.genre_matrix]
    df = pl.DataFrame({"movieId": w.movie_ids, "title": titles, "genres": genres})
    df.write_csv(path)
    return df.height


def _write_links(p: Preset, w: _World, rng: np.random.Generator, path: Path) -> int:
    import polars as pl  # only the CSV writers need it; the GPU machine has none

    imdb = rng.choice(np.arange(1, 9_999_999), size=p.n_movies, replace=False)
    tmdb = rng.choice(np.arange(1, 999_999), size=p.n_movies, replace=False).astype(float)
    tmdb[rng.random(p.n_movies) < 0.002] = np.nan  # a few movies lack a tmdb id
    df = pl.DataFrame(
        {
            "movieId": w.movie_ids,
            "imdbId": [f"{x:07d}" for x in imdb],
            "tmdbId": pl.Series(tmdb).fill_nan(None).cast(pl.Int64),
        }
    )
    df.write_csv(path)
    return df.height


def _write_ratings(p: Preset, w: _World, rng: np.random.Generator, path: Path) -> int:
    import polars as pl  # only the CSV writers need it; the GPU machine has none

    written = 0
    with open(path, "wb") as fh:
        fh.write(b"userId,movieId,rating,timestamp\n")
        for users in _user_chunks(w.user_counts):
            chunk_rng = np.random.default_rng(rng.integers(0, 2**63))
            user_idx, movie_idx = _sample_pairs(users, w, chunk_rng)
            ratings = _rate(user_idx, movie_idx, w, chunk_rng)
            ts = _timestamps(user_idx, w, chunk_rng)
            order = np.lexsort((w.movie_ids[movie_idx], user_idx))
            df = pl.DataFrame(
                {
                    "userId": (user_idx[order] + 1).astype(np.int32),
                    "movieId": w.movie_ids[movie_idx[order]].astype(np.int32),
                    "rating": ratings[order],
                    "timestamp": ts[order],
                }
            )
            df.write_csv(fh, include_header=False, float_precision=1)
            written += df.height
    return written


def _user_chunks(counts: np.ndarray) -> list[np.ndarray]:
    cum = np.cumsum(counts)
    bounds = np.searchsorted(cum, np.arange(_USER_CHUNK_RATINGS, cum[-1], _USER_CHUNK_RATINGS))
    edges = np.unique(np.concatenate([[0], bounds, [len(counts)]]))
    return [np.arange(a, b) for a, b in zip(edges[:-1], edges[1:], strict=True) if b > a]


def _sample_pairs(
    users: np.ndarray, w: _World, rng: np.random.Generator
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
    keys: np.ndarray, need: np.ndarray, w: _World, rng: np.random.Generator
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


def _rate(
    user_idx: np.ndarray, movie_idx: np.ndarray, w: _World, rng: np.random.Generator
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


def _timestamps(user_idx: np.ndarray, w: _World, rng: np.random.Generator) -> np.ndarray:
    n = user_idx.size
    # Most of a user's ratings come early in their active span, as MovieLens onboarding does.
    offset = np.floor(w.user_span_days[user_idx] * rng.beta(0.6, 2.0, n)).astype(np.int64)
    day = w.user_first_day[user_idx] + offset
    weekday = rng.choice(7, size=n, p=_WEEKDAY_WEIGHTS / _WEEKDAY_WEIGHTS.sum())
    monday = day - (day - EPOCH_MONDAY_DAY) % 7
    hour = rng.choice(24, size=n, p=_HOUR_WEIGHTS / _HOUR_WEIGHTS.sum())
    return (monday + weekday) * 86_400 + hour * 3_600 + rng.integers(0, 3_600, n)


def _tag_vocabulary(n: int) -> list[str]:
    names = [f"{a} {b}" for b in _TAG_NOUNS for a in _TAG_ADJECTIVES]
    names = list(GENRES) + [g.lower() + " classic" for g in GENRES] + names
    if n > len(names):
        names += [f"tag {i}" for i in range(len(names), n)]
    return names[:n]


def _tag_home_genre(n_tags: int) -> np.ndarray:
    return np.arange(n_tags) % len(GENRES)


def _write_tags(
    p: Preset, w: _World, rng: np.random.Generator, names: list[str], path: Path
) -> int:
    import polars as pl  # only the CSV writers need it; the GPU machine has none

    n = p.n_tags
    user_weight = w.user_counts / w.user_counts.sum()
    users = rng.choice(p.n_users, size=n, p=user_weight)
    movies = rng.choice(p.n_movies, size=n, p=w.popularity / w.popularity.sum())
    # Mostly a tag whose home genre (tag index mod the genre count) the movie has, else any tag.
    tag = rng.integers(0, len(names), n)
    genres_of = w.genre_matrix[movies]
    pick = np.argmax(genres_of * rng.random(genres_of.shape), axis=1)  # a random genre of the movie
    on_genre = (rng.random(n) < 0.7) & genres_of.any(axis=1)
    n_home = (len(names) - pick + len(GENRES) - 1) // len(GENRES)  # tags whose home is that genre
    home_tag = pick + len(GENRES) * np.floor(rng.random(n) * n_home).astype(np.int64)
    tag[on_genre] = home_tag[on_genre]
    ts = _timestamps(users, w, rng)
    order = np.lexsort((ts, w.movie_ids[movies], users))
    df = pl.DataFrame(
        {
            "userId": users[order] + 1,
            "movieId": w.movie_ids[movies[order]],
            "tag": np.array(names, dtype=object)[tag[order]].tolist(),
            "timestamp": ts[order],
        }
    )
    df.write_csv(path)
    return df.height


def _write_genome_tags(p: Preset, names: list[str], path: Path) -> int:
    import polars as pl  # only the CSV writers need it; the GPU machine has none

    df = pl.DataFrame({"tagId": np.arange(1, p.genome_tags + 1), "tag": names[: p.genome_tags]})
    df.write_csv(path)
    return df.height


def _write_genome_scores(p: Preset, w: _World, rng: np.random.Generator, path: Path) -> int:
    import polars as pl  # only the CSV writers need it; the GPU machine has none

    # The genome covers the most popular movies, as in MovieLens.
    movies = np.sort(np.argsort(-w.popularity, kind="stable")[: p.genome_movies])
    home = _tag_home_genre(p.genome_tags)
    tag_base = rng.normal(-2.2, 0.7, p.genome_tags)
    written = 0
    with open(path, "wb") as fh:
        fh.write(b"movieId,tagId,relevance\n")
        for start in range(0, movies.size, 2_000):
            block = movies[start : start + 2_000]
            has_home = w.genre_matrix[block][:, home]  # (block, tags)
            logit = tag_base[None, :] + 3.0 * has_home + rng.normal(0, 0.9, has_home.shape)
            rel = 1.0 / (1.0 + np.exp(-logit))
            df = pl.DataFrame(
                {
                    "movieId": np.repeat(w.movie_ids[block], p.genome_tags),
                    "tagId": np.tile(np.arange(1, p.genome_tags + 1), block.size),
                    "relevance": np.round(rel.ravel(), 5),
                }
            )
            df.write_csv(fh, include_header=False, float_precision=5)
            written += df.height
    return written
