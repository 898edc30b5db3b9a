"""User and movie features of one split, from its TRAIN ratings only (no leakage).

SQL (warehouse/sql/features/*.sql) computes the per-user aggregates and the per-movie year,
popularity and shrunk mean; Polars does what has data-dependent columns (the genre multi-hot)
and the genome pivot; scikit-learn's TruncatedSVD compresses genome relevance (or, without a
genome, TF-IDF of tags.csv) to 50 content dimensions.

Results: features.user_features(split_id, user_id, ...), features.movie_features(split_id,
movie_id, ...) and features.manifest(split_id, position, name, entity, source, description),
whose order is the order the model reads columns in.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import re
from pathlib import Path

import numpy as np
import polars as pl

from reelgraph.core.conventions import NO_GENRES
from reelgraph.core.errors import ReelgraphError
from warehouse import connect, create_tables
from warehouse.connection import fetch_one, sql_text, transaction

log = logging.getLogger(__name__)

FEATURE_CODE_VERSION = "1"  # bump when a feature's definition changes: cached builds are redone
CONTENT_DIM = 50
DOWS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class FeatureError(ReelgraphError):
    pass


@dataclasses.dataclass(frozen=True)
class FeatureParams:
    shrinkage: float = 10.0  # pseudo-ratings at the global mean added to each movie's mean
    content_dim: int = CONTENT_DIM
    seed: int = 0  # TruncatedSVD's randomised solver


@dataclasses.dataclass(frozen=True)
class FeatureResult:
    split_id: str
    user_rows: int
    movie_rows: int
    user_dim: int
    movie_dim: int
    content_source: str
    users_without_train_ratings: int
    reused: bool = False


def build_features(
    warehouse: str | Path,
    split_id: str,
    params: FeatureParams = FeatureParams(),
    force: bool = False,
) -> FeatureResult:
    """Compute and store both feature tables for a split (skipped when already built)."""
    con = connect(warehouse)
    try:
        create_tables(con, "features")
        key = _build_key(params)
        if fetch_one(con, "SELECT 1 FROM staging.splits WHERE split_id = ?", [split_id]) is None:
            raise FeatureError(f"split {split_id!r} does not exist; make the split first")
        if not force:
            row = fetch_one(
                con,
                "SELECT result FROM features.builds WHERE split_id = ? AND build_key = ?",
                [split_id, key],
            )
            if row is not None:
                log.info("features for split %s already built (%s); reusing them", split_id, key)
                return dataclasses.replace(FeatureResult(**json.loads(row[0])), reused=True)

        users = con.sql(
            sql_text("features", "user_features.sql"), params={"split_id": split_id}
        ).pl()
        base = con.sql(
            sql_text("features", "movie_base.sql"),
            params={"split_id": split_id, "shrinkage": params.shrinkage},
        ).pl()
        content, source = content_embeddings(con, split_id, params)
        movies = (
            movie_features(base, content, params.content_dim)
            .with_columns(pl.lit(split_id).alias("split_id"))
            .select("split_id", pl.exclude("split_id"))
        )
        manifest = feature_manifest(split_id, users.columns, movies.columns, source, params)
        _check_finite(users, "user")
        _check_finite(movies, "movie")
        n_split_users = fetch_one(
            con,
            "SELECT count(DISTINCT user_id) FROM staging.split_ratings WHERE split_id = ?",
            [split_id],
        )[0]
        result = FeatureResult(
            split_id=split_id,
            user_rows=users.height,
            movie_rows=movies.height,
            user_dim=users.width - 2,
            movie_dim=movies.width - 2,
            content_source=source,
            users_without_train_ratings=n_split_users - users.height,
        )
        with transaction(con):
            _replace_rows(con, "features.user_features", users, split_id)
            _replace_rows(con, "features.movie_features", movies, split_id)
            _replace_rows(con, "features.manifest", manifest, split_id)
            _comment_columns(con, manifest)
            con.execute("DELETE FROM features.builds WHERE split_id = ?", [split_id])
            con.execute(
                "INSERT INTO features.builds VALUES (?, ?, ?, ?)",
                [
                    split_id,
                    key,
                    json.dumps(dataclasses.asdict(result)),
                    dt.datetime.now(dt.UTC).replace(tzinfo=None),
                ],
            )
        log.info(
            "features for %s: users %d x %d, movies %d x %d, content from %s",
            split_id,
            result.user_rows,
            result.user_dim,
            result.movie_rows,
            result.movie_dim,
            source,
        )
        return result
    finally:
        con.close()


def _build_key(params: FeatureParams) -> str:
    return f"v{FEATURE_CODE_VERSION}:" + json.dumps(dataclasses.asdict(params), sort_keys=True)


# ---------------------------------------------------------------------------------- movies


def genre_column(genre: str) -> str:
    return "genre_" + re.sub(r"[^a-z0-9]+", "_", genre.lower()).strip("_")


def movie_features(
    base: pl.DataFrame, content: pl.DataFrame | None, content_dim: int = CONTENT_DIM
) -> pl.DataFrame:
    """Model-ready movie features from movie_base.sql's output and the content embeddings.

    base: movie_id, year (nullable), train_count, mean_rating_shrunk, genres.
    content: movie_id, content_00.. (movies without content are absent), or None.
    """
    known = base["year"].drop_nulls()
    if known.len():
        lo, hi, fill = known.min(), known.max(), known.median()
    else:
        lo, hi, fill = 0, 0, 0
    span = (hi - lo) or 1
    max_log_pop = float(np.log1p(base["train_count"].max() or 0)) or 1.0
    # Each movie's genres as their column names: spellings that name one column ("Sci-Fi",
    # "sci fi", " Comedy ") count as one genre instead of two columns of one name.
    genre_lists = pl.Series(
        [
            sorted({genre_column(g) for g in gs if g.strip() not in (NO_GENRES, "")})
            for gs in base["genres"].str.split("|").to_list()
        ],
        dtype=pl.List(pl.String),
    )
    vocabulary = sorted({c for cs in genre_lists.to_list() for c in cs} - {"genre_"})
    out = base.select(
        "movie_id",
        year_norm=(pl.col("year").fill_null(fill) - lo).cast(pl.Float64) / span,
        year_missing=pl.col("year").is_null().cast(pl.Float64),
        log_popularity=pl.col("train_count").cast(pl.Float64).log1p() / max_log_pop,
        mean_rating_shrunk=pl.col("mean_rating_shrunk").cast(pl.Float64),
    ).with_columns(genre_lists.list.contains(c).cast(pl.Float64).alias(c) for c in vocabulary)
    names = [f"content_{i:02d}" for i in range(content_dim)]
    if content is None or content.height == 0:
        return out.with_columns([pl.lit(0.0).alias(n) for n in names]).with_columns(
            content_missing=pl.lit(1.0)
        )
    content = content.with_columns(content_missing=pl.lit(0.0))
    return out.join(content, on="movie_id", how="left").with_columns(
        [pl.col(n).fill_null(0.0) for n in names],
        content_missing=pl.col("content_missing").fill_null(1.0),
    )


def content_embeddings(
    con, split_id: str, params: FeatureParams
) -> tuple[pl.DataFrame | None, str]:  # noqa: ANN001
    """50-d content vectors: genome relevance if the release has a genome, else TF-IDF of tags."""
    n_genome = fetch_one(con, "SELECT count(*) FROM raw.genome_scores")[0]
    if n_genome:
        scores = con.sql("SELECT movie_id, tag_id, relevance FROM raw.genome_scores").pl()
        return genome_svd(scores, params.content_dim, params.seed), "genome"
    # Tags made after the last train rating could leak the future in a temporal split.
    tags = con.sql(
        """SELECT movie_id, lower(trim(tag)) AS tag FROM raw.tags
           WHERE ts <= (SELECT max(ts) FROM staging.split_ratings WHERE split_id = $split_id AND part = 'train')""",
        params={"split_id": split_id},
    ).pl()
    if tags.height:
        emb = tags_svd(tags, params.content_dim, params.seed)
        if emb is not None:
            return emb, "tags"
    return None, "none"


def genome_svd(scores: pl.DataFrame, dim: int, seed: int) -> pl.DataFrame:
    """Pivot (movie, tag, relevance) to a dense matrix and keep its top `dim` SVD directions."""
    movie_ids = scores["movie_id"].unique().sort()
    tag_ids = scores["tag_id"].unique().sort()
    rows = movie_ids.search_sorted(scores["movie_id"]).to_numpy()
    cols = tag_ids.search_sorted(scores["tag_id"]).to_numpy()
    matrix = np.zeros((movie_ids.len(), tag_ids.len()), dtype=np.float32)
    matrix[rows, cols] = scores["relevance"].to_numpy()
    return _svd_frame(movie_ids, matrix, dim, seed)


def tags_svd(tags: pl.DataFrame, dim: int, seed: int) -> pl.DataFrame | None:
    """TF-IDF over whole tags (a tag like "dark comedy" is one term), then SVD."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    docs = tags.group_by("movie_id").agg(pl.col("tag")).sort("movie_id")
    vectorizer = TfidfVectorizer(analyzer=lambda terms: terms, min_df=1, sublinear_tf=True)
    matrix = vectorizer.fit_transform(docs["tag"].to_list())
    if matrix.shape[1] < 2:
        return None
    return _svd_frame(docs["movie_id"], matrix, dim, seed)


def _svd_frame(movie_ids: pl.Series, matrix, dim: int, seed: int) -> pl.DataFrame:  # noqa: ANN001
    from sklearn.decomposition import TruncatedSVD

    k = min(dim, matrix.shape[1] - 1, matrix.shape[0] - 1)
    emb = np.zeros((matrix.shape[0], dim), dtype=np.float64)
    if k >= 1:
        z = TruncatedSVD(n_components=k, random_state=seed).fit_transform(matrix)
        # Standardise each direction over the covered movies so no single one dominates.
        std = z.std(axis=0)
        emb[:, :k] = (z - z.mean(axis=0)) / np.where(std > 0, std, 1.0)
    return pl.DataFrame({"movie_id": movie_ids}).with_columns(
        pl.Series(f"content_{i:02d}", emb[:, i]) for i in range(dim)
    )


# ---------------------------------------------------------------------------------- manifest


# What each feature column is, as data: (name, or prefix ending in *, entity, source,
# description). In a description, {x} is what follows the prefix ({X} capitalised); {shrinkage}
# and {how} come from the run's settings; the CONTENT source is the table content came from.
TRAIN_RATINGS, MOVIES, CONTENT = "staging.split_ratings (train)", "raw.movies", "content"
COLUMN_DOCS = (
    ("mean_rating_centered", "user", TRAIN_RATINGS,
     "mean train rating minus the global train mean, in stars"),
    ("log_count_z", "user", TRAIN_RATINGS, "log(1 + train ratings), standardised over train users"),
    ("rating_var", "user", TRAIN_RATINGS,
     "population variance of train ratings, stars^2 (0 for one rating)"),
    ("hour_*", "user", TRAIN_RATINGS, "share of train ratings made in UTC hour {x}:00-{x}:59"),
    ("dow_*", "user", TRAIN_RATINGS, "share of train ratings made on a {X} (UTC)"),
    ("year_norm", "movie", MOVIES, "release year from the title, min-max scaled over known "
     "years; median year when missing"),
    ("year_missing", "movie", MOVIES, "1 when the title has no year (year_norm is then imputed)"),
    ("log_popularity", "movie", TRAIN_RATINGS, "log(1 + train ratings) / its maximum over movies"),
    ("mean_rating_shrunk", "movie", TRAIN_RATINGS, "mean train rating shrunk toward the global "
     "mean with {shrinkage:g} pseudo-ratings, minus that mean"),
    ("genre_*", "movie", MOVIES, "1 when the movie is listed under genre {x}"),
    ("content_missing", "movie", CONTENT,
     "1 when the movie has no content vector (content_* are then 0)"),
    ("content_*", "movie", CONTENT, "{how}, direction {x}, standardised"),
)  # fmt: skip
CONTENT_TABLE = {"genome": "raw.genome_scores", "tags": "raw.tags", "none": "none"}
CONTENT_HOW = {
    "genome": "TruncatedSVD of genome relevance",
    "tags": "TruncatedSVD of TF-IDF over tags",
    "none": "no genome or tags: zero",
}


def _column_doc(column: str, entity: str, settings: dict) -> tuple[str, str]:
    """(source, description) of one feature column, from COLUMN_DOCS."""
    for name, of, source, text in COLUMN_DOCS:
        prefix = name[:-1] if name.endswith("*") else None
        if of == entity and (column == name or (prefix and column.startswith(prefix))):
            x = column[len(prefix) :] if prefix else ""
            source = settings["content_table"] if source == CONTENT else source
            return source, text.format(x=x, X=x.capitalize(), **settings)
    raise AssertionError(f"no documentation for {entity} feature column {column}")


def feature_manifest(
    split_id: str,
    user_cols: list[str],
    movie_cols: list[str],
    content_source: str,
    params: FeatureParams,
) -> pl.DataFrame:
    """One row per feature column (after the id and index columns): where it comes from and
    what it means."""
    settings = {
        "shrinkage": params.shrinkage,
        "how": CONTENT_HOW[content_source],
        "content_table": CONTENT_TABLE[content_source],
    }
    rows = [
        (c, entity, *_column_doc(c, entity, settings))
        for entity, cols in (("user", user_cols), ("movie", movie_cols))
        for c in cols[2:]
    ]
    return pl.DataFrame(
        {
            "split_id": [split_id] * len(rows),
            "position": list(range(len(rows))),
            "name": [r[0] for r in rows],
            "entity": [r[1] for r in rows],
            "source": [r[2] for r in rows],
            "description": [r[3] for r in rows],
        },
        schema_overrides={"position": pl.Int32},
    )


# ---------------------------------------------------------------------------------- storage


def _check_finite(df: pl.DataFrame, entity: str) -> None:
    numeric = [c for c, t in df.schema.items() if t.is_float()]
    bad = df.select([(~pl.col(c).is_finite()).fill_null(True).sum().alias(c) for c in numeric]).row(
        0, named=True
    )
    bad = {c: n for c, n in bad.items() if n}
    if bad:
        raise FeatureError(
            f"{entity} features hold NULL/NaN/inf values in {bad}; refusing to store them"
        )


def _replace_rows(con, table: str, frame: pl.DataFrame, split_id: str) -> None:  # noqa: ANN001
    """Replace one split's rows. Columns are data-dependent (genres), so a table grows the
    columns a new build brings, defaulting to 0: right for multi-hot genres of other releases."""
    con.register("incoming", frame.to_arrow())
    con.execute(f"CREATE TABLE IF NOT EXISTS {table} AS SELECT * FROM incoming LIMIT 0")
    have = {r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()}
    for name, dtype in frame.schema.items():
        if name not in have:
            con.execute(f'ALTER TABLE {table} ADD COLUMN "{name}" DOUBLE DEFAULT 0')
            log.info("%s: added column %s (%s)", table, name, dtype)
    con.execute(f"DELETE FROM {table} WHERE split_id = ?", [split_id])
    con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM incoming")
    con.unregister("incoming")


def _comment_columns(con, manifest: pl.DataFrame) -> None:  # noqa: ANN001
    for row in manifest.iter_rows(named=True):
        table = f"features.{row['entity']}_features"
        text = row["description"].replace("'", "''")
        con.execute(f"COMMENT ON COLUMN {table}.\"{row['name']}\" IS '{text}'")


def load_feature_matrix(
    con, split_id: str, entity: str
) -> tuple[np.ndarray, np.ndarray, list[str]]:  # noqa: ANN001
    """(ids, float32 matrix, column names) of one split, columns in manifest order."""
    names = [
        r[0]
        for r in con.execute(
            "SELECT name FROM features.manifest WHERE split_id = ? AND entity = ? ORDER BY position",
            [split_id, entity],
        ).fetchall()
    ]
    if not names:
        raise FeatureError(f"no {entity} features for split {split_id!r}; build features first")
    id_col = f"{entity}_id"
    cols = ", ".join(f'"{n}"' for n in names)
    table = con.execute(
        f"SELECT {id_col}, {cols} FROM features.{entity}_features WHERE split_id = ? ORDER BY {id_col}",
        [split_id],
    ).fetchnumpy()
    matrix = np.column_stack([np.asarray(table[n], dtype=np.float32) for n in names])
    return np.asarray(table[id_col]), matrix, names
