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

from pathlib import Path
from typing import NamedTuple

import numpy as np

from reelgraph.core.conventions import NO_GENRES
from reelgraph.synthetic.vocabulary import GENRES, TAG_ADJECTIVES, TAG_NOUNS, TITLE_WORDS
from reelgraph.synthetic.world import (
    PRESETS,
    Preset,
    World,
    rate,
    sample_pairs,
    timestamps,
    user_chunks,
)


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

    world = World.draw(p, rng_world)
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


def _write_movies(p: Preset, w: World, rng: np.random.Generator, path: Path) -> int:
    import polars as pl  # only the CSV writers need it; the GPU machine has none

    n = p.n_movies
    years = np.clip(np.round(rng.normal(1995, 18, n)), 1902, 2019).astype(int)
    first = rng.integers(0, len(TITLE_WORDS), n)
    second = rng.integers(0, len(TITLE_WORDS), n)
    style = rng.random(n)
    titles = []
    for i in range(n):
        base = f"{TITLE_WORDS[first[i]]} {TITLE_WORDS[second[i]]} {w.movie_ids[i]}"
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


def _write_links(p: Preset, w: World, rng: np.random.Generator, path: Path) -> int:
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


def _write_ratings(p: Preset, w: World, rng: np.random.Generator, path: Path) -> int:
    import polars as pl  # only the CSV writers need it; the GPU machine has none

    written = 0
    with open(path, "wb") as fh:
        fh.write(b"userId,movieId,rating,timestamp\n")
        for users in user_chunks(w.user_counts):
            chunk_rng = np.random.default_rng(rng.integers(0, 2**63))
            user_idx, movie_idx = sample_pairs(users, w, chunk_rng)
            ratings = rate(user_idx, movie_idx, w, chunk_rng)
            ts = timestamps(user_idx, w, chunk_rng)
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


def _tag_vocabulary(n: int) -> list[str]:
    names = [f"{a} {b}" for b in TAG_NOUNS for a in TAG_ADJECTIVES]
    names = list(GENRES) + [g.lower() + " classic" for g in GENRES] + names
    if n > len(names):
        names += [f"tag {i}" for i in range(len(names), n)]
    return names[:n]


def _tag_home_genre(n_tags: int) -> np.ndarray:
    return np.arange(n_tags) % len(GENRES)


def _write_tags(p: Preset, w: World, rng: np.random.Generator, names: list[str], path: Path) -> int:
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
    ts = timestamps(users, w, rng)
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


def _write_genome_scores(p: Preset, w: World, rng: np.random.Generator, path: Path) -> int:
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
