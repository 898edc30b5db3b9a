"""What a valid row of each MovieLens release file is: its column types, the warehouse columns
it becomes, the checks that refuse a row (the first failing one names it) and its key.

One small function per file, picked from RULES by file name; reelgraph.ingest.load applies them.
"""

from __future__ import annotations

import dataclasses

import polars as pl

from reelgraph.core.conventions import VALID_RATINGS

NOT_UTF8 = "\ufffd"  # what a byte that is not UTF-8 reads as
MAX_TIMESTAMP = 4_102_444_800  # 2100-01-01: anything later is a unit mistake (ms, not s)


def number(source: str, dtype: pl.DataType) -> pl.Expr:
    """A text field as a number, spaces around it ignored (null when it is not one)."""
    return pl.col(source).str.strip_chars().cast(dtype, strict=False)


def _not_utf8(name: str) -> tuple[str, pl.Expr]:
    return (f"{name} is not valid UTF-8", pl.col(name).str.contains(NOT_UTF8, literal=True))


def _positive(name: str) -> pl.Expr:
    return pl.col(name).is_null() | (pl.col(name) <= 0)


def _unix_seconds(name: str) -> pl.Expr:
    return pl.col(name).is_null() | (pl.col(name) < 0) | (pl.col(name) > MAX_TIMESTAMP)


def _blank(name: str) -> pl.Expr:
    return pl.col(name).is_null() | (pl.col(name).str.strip_chars() == "")


@dataclasses.dataclass(frozen=True)
class Rules:
    types: dict[str, pl.DataType]  # source column -> its type (the others are text)
    columns: dict[str, pl.Expr]  # warehouse column -> expression over the source columns
    checks: list[tuple[str, pl.Expr]]  # (reason, is_bad) in order: the first failing names the row
    key: list[str]  # must be unique among valid rows; the first occurrence is kept


_Check = tuple[str, pl.Expr]  # (reason, is_bad)
NOT_ID = "is not a positive integer"
I32, F64, I64 = pl.Int32(), pl.Float64(), pl.Int64()
# The warehouse's name of each release column that it renames (the others keep theirs).
WAREHOUSE_NAME = {"userId": "user_id", "movieId": "movie_id", "tagId": "tag_id", "timestamp": "ts"}


def _columns(*source: str) -> dict[str, pl.Expr]:
    """Release columns copied as they are, under their warehouse names."""
    return {WAREHOUSE_NAME.get(c, c): pl.col(c) for c in source}


def _id_check(source: str) -> _Check:
    return (f"{source} {NOT_ID}", _positive(WAREHOUSE_NAME[source]))


def rules_for(file: str, known: dict[str, pl.DataFrame]) -> Rules:
    """The casts, columns, row checks and key of one release file. `known`: the valid rows of
    the files checked before it (ratings, tags, links and genome scores must name a movie of
    movies.csv; genome scores a tag of genome-tags.csv)."""
    movies = known["movies.csv"]["movie_id"] if "movies.csv" in known else None
    unknown_movie = (
        "movieId is not in movies.csv",
        ~pl.col("movie_id").is_in(movies.implode()) if movies is not None else pl.lit(False),
    )
    return RULES[file](known, unknown_movie)


def _rules_movies(known: dict[str, pl.DataFrame], unknown_movie: _Check) -> Rules:
    return Rules(
        {"movieId": I32},
        # Genre names trimmed (exports write "Drama | Comedy "); features fold other spellings.
        {
            **_columns("movieId", "title"),
            "genres": pl.col("genres")
            .str.split("|")
            .list.eval(pl.element().str.strip_chars())
            .list.join("|"),
        },
        [
            _id_check("movieId"),
            ("title is empty", _blank("title")),
            ("genres is empty", _blank("genres")),
            _not_utf8("title"),
            _not_utf8("genres"),
        ],
        ["movie_id"],
    )


def _rules_ratings(known: dict[str, pl.DataFrame], unknown_movie: _Check) -> Rules:
    return Rules(
        {"userId": I32, "movieId": I32, "rating": F64, "timestamp": I64},
        _columns("userId", "movieId", "rating", "timestamp"),
        [
            _id_check("userId"),
            _id_check("movieId"),
            (
                "rating is not one of 0.5, 1.0, ..., 5.0",
                ~pl.col("rating").is_in(VALID_RATINGS).fill_null(False),
            ),
            ("timestamp is not a Unix time in seconds", _unix_seconds("ts")),
            unknown_movie,
        ],
        ["user_id", "movie_id"],
    )


def _rules_tags(known: dict[str, pl.DataFrame], unknown_movie: _Check) -> Rules:
    return Rules(
        {"userId": I32, "movieId": I32, "timestamp": I64},
        _columns("userId", "movieId", "tag", "timestamp"),
        [
            _id_check("userId"),
            _id_check("movieId"),
            ("tag is empty", _blank("tag")),
            _not_utf8("tag"),
            ("timestamp is not a Unix time in seconds", _unix_seconds("ts")),
            unknown_movie,
        ],
        [],  # a user may apply the same tag twice at different times, as MovieLens has
    )


def _rules_links(known: dict[str, pl.DataFrame], unknown_movie: _Check) -> Rules:
    # An empty tmdbId is allowed but a non-number is not, and imdbId keeps its zeros.
    tmdb = pl.col("tmdbId").str.strip_chars()
    return Rules(
        {},
        {
            "movie_id": number("movieId", I32),
            "imdb_id": pl.col("imdbId").str.strip_chars(),
            "tmdb_id": number("tmdbId", I32),
        },
        [
            _id_check("movieId"),
            (
                "imdbId is not a number",
                ~pl.col("imdb_id").str.contains(r"^\d+$").fill_null(False),
            ),
            (
                "tmdbId is neither empty nor a positive integer",
                tmdb.is_not_null() & (tmdb != "") & _positive("tmdb_id"),
            ),
            unknown_movie,
        ],
        ["movie_id"],
    )


def _rules_genome_tags(known: dict[str, pl.DataFrame], unknown_movie: _Check) -> Rules:
    return Rules(
        {"tagId": I32},
        _columns("tagId", "tag"),
        [
            _id_check("tagId"),
            ("tag is empty", _blank("tag")),
            _not_utf8("tag"),
        ],
        ["tag_id"],
    )


def _rules_genome_scores(known: dict[str, pl.DataFrame], unknown_movie: _Check) -> Rules:
    tags = (
        known["genome-tags.csv"]["tag_id"]
        if "genome-tags.csv" in known
        else pl.Series([], dtype=pl.Int32)
    )
    return Rules(
        {"movieId": I32, "tagId": I32, "relevance": F64},
        _columns("movieId", "tagId", "relevance"),
        [
            _id_check("movieId"),
            _id_check("tagId"),
            (
                "relevance is not a number in [0, 1]",
                pl.col("relevance").is_null()
                | pl.col("relevance").is_nan()
                | (pl.col("relevance") < 0)
                | (pl.col("relevance") > 1),
            ),
            unknown_movie,
            ("tagId is not in genome-tags.csv", ~pl.col("tag_id").is_in(tags.implode())),
        ],
        ["movie_id", "tag_id"],
    )


RULES = {
    "movies.csv": _rules_movies,
    "ratings.csv": _rules_ratings,
    "tags.csv": _rules_tags,
    "links.csv": _rules_links,
    "genome-tags.csv": _rules_genome_tags,
    "genome-scores.csv": _rules_genome_scores,
}
