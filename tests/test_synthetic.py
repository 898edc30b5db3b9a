from __future__ import annotations

import hashlib
from pathlib import Path

import polars as pl

from reelgraph.synthetic.generator import PRESETS, generate


def _digest(folder: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.csv"))
    }


def test_same_seed_same_bytes_and_other_seed_differs(tmp_path: Path) -> None:
    a = generate("tiny", tmp_path / "a", seed=7)
    b = generate("tiny", tmp_path / "b", seed=7)
    c = generate("tiny", tmp_path / "c", seed=8)
    assert _digest(a.directory) == _digest(b.directory)
    assert _digest(a.directory)["ratings.csv"] != _digest(c.directory)["ratings.csv"]


def test_tiny_has_the_movielens_layout_and_shape(tiny_dir: Path) -> None:
    p = PRESETS["tiny"]
    ratings = pl.read_csv(tiny_dir / "ratings.csv")
    movies = pl.read_csv(tiny_dir / "movies.csv")
    assert ratings.columns == ["userId", "movieId", "rating", "timestamp"]
    assert movies.columns == ["movieId", "title", "genres"]
    assert ratings.height == p.n_ratings and movies.height == p.n_movies
    assert ratings["userId"].n_unique() == p.n_users
    assert ratings.select(pl.struct("userId", "movieId").is_unique().all()).item()
    assert ratings.group_by("userId").len()["len"].min() >= 20  # as MovieLens guarantees
    assert set(ratings["rating"].unique().to_list()) <= {x / 2 for x in range(1, 11)}
    assert set(ratings["movieId"]) <= set(movies["movieId"])
    assert ratings["movieId"].n_unique() <= p.n_rated_movies
    assert movies["movieId"].is_unique().all()
    scores = pl.read_csv(tiny_dir / "genome-scores.csv")
    assert scores.height == p.genome_movies * p.genome_tags
    assert scores["relevance"].is_between(0, 1).all()
    for name in ("tags.csv", "links.csv", "genome-tags.csv"):
        assert (tiny_dir / name).is_file()


def test_small_preset_matches_ml_latest_small_counts(tmp_path: Path) -> None:
    g = generate("small", tmp_path, seed=0)
    assert g.row_counts["ratings.csv"] == 100_836
    assert g.row_counts["movies.csv"] == 9_742
    assert g.row_counts["tags.csv"] == 3_683
    ratings = pl.read_csv(tmp_path / "ratings.csv")
    # A realistic star distribution: 3-4 stars dominate, mean near MovieLens' 3.5.
    assert 3.3 < ratings["rating"].mean() < 3.8
    share = ratings["rating"].value_counts(normalize=True).sort("proportion")["rating"].to_list()
    assert share[-1] in (3.0, 4.0)
    titles = pl.read_csv(tmp_path / "movies.csv")["title"]
    assert (~titles.str.contains(r"\(\d{4}")).sum() > 0  # some titles have no year
    assert titles.str.contains(r"\(\d{4}-\d{4}\)").sum() > 0  # and some a year range


def test_genome_relevance_follows_genres(tiny_dir: Path) -> None:
    movies = pl.read_csv(tiny_dir / "movies.csv")
    tags = pl.read_csv(tiny_dir / "genome-tags.csv")
    scores = (
        pl.read_csv(tiny_dir / "genome-scores.csv")
        .join(tags, on="tagId")
        .join(movies, on="movieId")
    )
    # Tag 1 is "Action": its relevance is higher on Action movies than on the others.
    action = scores.filter(pl.col("tagId") == 1)
    on = action.filter(pl.col("genres").str.contains("Action"))["relevance"].mean()
    off = action.filter(~pl.col("genres").str.contains("Action"))["relevance"].mean()
    assert on > off + 0.2
