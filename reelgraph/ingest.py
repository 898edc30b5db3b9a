"""Typed, validated load of a MovieLens folder into the warehouse's raw layer.

Each CSV is read as text (Polars, multi-threaded), every row is checked against the rules of its
file, and refused rows go to `ops.ingest_rejects` with file, line and reason. All raw tables are
replaced inside one DuckDB transaction: a failing ingest leaves the previous ones untouched.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import json
import logging
from collections.abc import Callable
from pathlib import Path

import duckdb
import polars as pl

from reelgraph.datasets import DatasetManifest
from reelgraph.errors import ReelgraphError
from warehouse import connect, run_sql_file
from warehouse.connection import fetch_one, transaction

log = logging.getLogger(__name__)

VALID_RATINGS = [x / 2 for x in range(1, 11)]
MAX_TIMESTAMP = 4_102_444_800  # 2100-01-01: anything later is a unit mistake (ms, not s)


class IngestError(ReelgraphError):
    """The ingest refused the dataset; no raw table was changed."""


@dataclasses.dataclass(frozen=True)
class FileSpec:
    file: str
    table: str
    header: tuple[str, ...]
    required: bool


SPECS: tuple[FileSpec, ...] = (
    FileSpec("movies.csv", "raw.movies", ("movieId", "title", "genres"), True),
    FileSpec("ratings.csv", "raw.ratings", ("userId", "movieId", "rating", "timestamp"), True),
    FileSpec("tags.csv", "raw.tags", ("userId", "movieId", "tag", "timestamp"), False),
    FileSpec("links.csv", "raw.links", ("movieId", "imdbId", "tmdbId"), False),
    FileSpec("genome-tags.csv", "raw.genome_tags", ("tagId", "tag"), False),
    FileSpec("genome-scores.csv", "raw.genome_scores", ("movieId", "tagId", "relevance"), False),
)


@dataclasses.dataclass(frozen=True)
class IngestResult:
    ingest_id: int
    dataset: str
    data_checksum: str
    row_counts: dict[str, int]
    rejected_rows: dict[str, int]
    missing_files: list[str]
    skipped: bool = False


@dataclasses.dataclass
class _Checked:
    good: pl.DataFrame
    rejects: pl.DataFrame  # line, reason, raw
    total: int


def ingest(
    manifest: DatasetManifest,
    warehouse: str | Path,
    max_reject_fraction: float = 0.01,
    force: bool = False,
    _before_commit: Callable[[duckdb.DuckDBPyConnection], None] | None = None,
) -> IngestResult:
    """Load the manifest's folder into raw.*, unless the warehouse already holds exactly this data."""
    if not 0.0 <= max_reject_fraction <= 1.0:
        raise IngestError(f"max_reject_fraction must be within [0, 1], got {max_reject_fraction}")
    con = connect(warehouse)
    try:
        run_sql_file(con, "ops", "tables.sql")
        if not force:
            previous = current_ingest(con)
            if (
                previous
                and previous.data_checksum == manifest.checksum
                and previous.dataset == manifest.dataset
            ):
                log.info(
                    "skipping ingest: warehouse %s already holds %s with checksum %s (ingest %d)",
                    warehouse,
                    manifest.dataset,
                    manifest.checksum[:12],
                    previous.ingest_id,
                )
                return dataclasses.replace(previous, skipped=True)

        started = _now()
        folder = Path(manifest.directory)
        checked: dict[str, _Checked] = {}
        missing: list[str] = []
        try:
            for spec in SPECS:
                path = folder / spec.file
                if not path.is_file():
                    if spec.required:
                        raise IngestError(f"{path}: required file is missing")
                    missing.append(spec.file)
                    continue
                checked[spec.file] = _check_file(spec, path, checked)
                _enforce_threshold(spec.file, checked[spec.file], max_reject_fraction)
        except IngestError as exc:
            _record_failure(con, manifest, started, checked, missing, str(exc))
            raise

        ingest_id = _load(con, manifest, started, checked, missing, _before_commit)
        return IngestResult(
            ingest_id=ingest_id,
            dataset=manifest.dataset,
            data_checksum=manifest.checksum,
            row_counts={_table_of(f): c.good.height for f, c in checked.items()},
            rejected_rows={f: c.rejects.height for f, c in checked.items()},
            missing_files=missing,
        )
    finally:
        con.close()


def current_ingest(con: duckdb.DuckDBPyConnection) -> IngestResult | None:
    """The ingest whose data the raw tables hold now (the latest that succeeded)."""
    row = fetch_one(
        con,
        """SELECT ingest_id, dataset, data_checksum, row_counts, rejected_rows, missing_files
           FROM ops.ingests WHERE status = 'succeeded' ORDER BY ingest_id DESC LIMIT 1""",
    )
    if row is None:
        return None
    return IngestResult(
        row[0], row[1], row[2], json.loads(row[3]), json.loads(row[4]), list(row[5])
    )


def _table_of(file: str) -> str:
    return next(s.table for s in SPECS if s.file == file)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _enforce_threshold(file: str, c: _Checked, max_fraction: float) -> None:
    if c.total and c.rejects.height / c.total > max_fraction:
        sample = "; ".join(
            f"line {r['line']}: {r['reason']}" for r in c.rejects.head(3).iter_rows(named=True)
        )
        raise IngestError(
            f"{file}: {c.rejects.height} of {c.total} rows rejected "
            f"({c.rejects.height / c.total:.2%} > max_reject_fraction {max_fraction:.2%}), e.g. {sample}"
        )


# ---------------------------------------------------------------------------------- checks


def _check_header(spec: FileSpec, path: Path) -> None:
    with open(path, newline="", encoding="utf-8") as fh:
        header = next(csv.reader(fh), None)
    if header is None:
        raise IngestError(f"{path}: empty file; expected header {','.join(spec.header)}")
    if tuple(h.strip() for h in header) != spec.header:
        raise IngestError(
            f"{path}: header is {','.join(header)!r}; expected {','.join(spec.header)!r}"
        )


def _scan(path: Path, schema: dict[str, pl.DataType] | None) -> pl.LazyFrame:
    # Typed columns parse in the reader (fast, no text copy of 25M rows); a field that does not
    # parse becomes null and fails its rule below. Line numbers are 1-based, header = line 1.
    return pl.scan_csv(
        path,
        schema=schema,
        infer_schema=schema is not None,
        ignore_errors=schema is not None,
        row_index_name="line",
        row_index_offset=2,
    )


def _positive(name: str) -> pl.Expr:
    return pl.col(name).is_null() | (pl.col(name) <= 0)


def _unix_seconds(name: str) -> pl.Expr:
    return pl.col(name).is_null() | (pl.col(name) < 0) | (pl.col(name) > MAX_TIMESTAMP)


def _blank(name: str) -> pl.Expr:
    return pl.col(name).is_null() | (pl.col(name).str.strip_chars() == "")


@dataclasses.dataclass(frozen=True)
class _Rules:
    schema: dict[str, pl.DataType] | None  # source column -> parsed type; None reads all as text
    columns: dict[str, pl.Expr]  # warehouse column -> expression over the source columns
    checks: list[tuple[str, pl.Expr]]  # (reason, is_bad) in order: the first failing names the row
    key: list[str]  # must be unique among valid rows; the first occurrence is kept


def _rules(spec: FileSpec, known: dict[str, _Checked]) -> _Rules:
    movies = known["movies.csv"].good["movie_id"] if "movies.csv" in known else None
    unknown_movie = (
        "movieId is not in movies.csv",
        ~pl.col("movie_id").is_in(movies.implode()) if movies is not None else pl.lit(False),
    )
    not_id = "is not a positive integer"
    i32, f64, i64, txt = pl.Int32(), pl.Float64(), pl.Int64(), pl.String()
    if spec.file == "movies.csv":
        return _Rules(
            {"movieId": i32, "title": txt, "genres": txt},
            {"movie_id": pl.col("movieId"), "title": pl.col("title"), "genres": pl.col("genres")},
            [
                (f"movieId {not_id}", _positive("movie_id")),
                ("title is empty", _blank("title")),
                ("genres is empty", _blank("genres")),
            ],
            ["movie_id"],
        )
    if spec.file == "ratings.csv":
        return _Rules(
            {"userId": i32, "movieId": i32, "rating": f64, "timestamp": i64},
            {
                "user_id": pl.col("userId"),
                "movie_id": pl.col("movieId"),
                "rating": pl.col("rating"),
                "ts": pl.col("timestamp"),
            },
            [
                (f"userId {not_id}", _positive("user_id")),
                (f"movieId {not_id}", _positive("movie_id")),
                (
                    "rating is not one of 0.5, 1.0, ..., 5.0",
                    ~pl.col("rating").is_in(VALID_RATINGS).fill_null(False),
                ),
                ("timestamp is not a Unix time in seconds", _unix_seconds("ts")),
                unknown_movie,
            ],
            ["user_id", "movie_id"],
        )
    if spec.file == "tags.csv":
        return _Rules(
            {"userId": i32, "movieId": i32, "tag": txt, "timestamp": i64},
            {
                "user_id": pl.col("userId"),
                "movie_id": pl.col("movieId"),
                "tag": pl.col("tag"),
                "ts": pl.col("timestamp"),
            },
            [
                (f"userId {not_id}", _positive("user_id")),
                (f"movieId {not_id}", _positive("movie_id")),
                ("tag is empty", _blank("tag")),
                ("timestamp is not a Unix time in seconds", _unix_seconds("ts")),
                unknown_movie,
            ],
            [],  # a user may apply the same tag twice at different times, as MovieLens has
        )
    if spec.file == "links.csv":
        # Read as text: an empty tmdbId is allowed but a non-number is not, and imdbId keeps its zeros.
        tmdb = pl.col("tmdbId").str.strip_chars()
        return _Rules(
            None,
            {
                "movie_id": pl.col("movieId").str.strip_chars().cast(pl.Int32, strict=False),
                "imdb_id": pl.col("imdbId").str.strip_chars(),
                "tmdb_id": tmdb.cast(pl.Int32, strict=False),
            },
            [
                (f"movieId {not_id}", _positive("movie_id")),
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
    if spec.file == "genome-tags.csv":
        return _Rules(
            {"tagId": i32, "tag": txt},
            {"tag_id": pl.col("tagId"), "tag": pl.col("tag")},
            [(f"tagId {not_id}", _positive("tag_id")), ("tag is empty", _blank("tag"))],
            ["tag_id"],
        )
    if spec.file == "genome-scores.csv":
        tags = (
            known["genome-tags.csv"].good["tag_id"]
            if "genome-tags.csv" in known
            else pl.Series([], dtype=pl.Int32)
        )
        return _Rules(
            {"movieId": i32, "tagId": i32, "relevance": f64},
            {
                "movie_id": pl.col("movieId"),
                "tag_id": pl.col("tagId"),
                "relevance": pl.col("relevance"),
            },
            [
                (f"movieId {not_id}", _positive("movie_id")),
                (f"tagId {not_id}", _positive("tag_id")),
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
    raise AssertionError(spec.file)


def _key_expr(key: list[str]) -> pl.Expr:
    # Two int32 ids pack into one int64: hashing it is far cheaper than hashing a struct.
    if len(key) == 2:
        return pl.col(key[0]).cast(pl.Int64) * (1 << 32) + pl.col(key[1]).cast(pl.Int64)
    return pl.col(key[0])


def _check_file(spec: FileSpec, path: Path, known: dict[str, _Checked]) -> _Checked:
    _check_header(spec, path)
    rules = _rules(spec, known)
    reason = pl.lit(None, dtype=pl.String)
    for why, bad in reversed(rules.checks):
        reason = pl.when(bad).then(pl.lit(why)).otherwise(reason)
    frame = (
        _scan(path, rules.schema)
        .with_columns(**rules.columns)
        .with_columns(reason=reason)
        .select("line", *rules.columns, "reason")
    )
    if rules.key:
        # Invalid rows get a null key, so an invalid first occurrence cannot shadow a valid one.
        valid_key = pl.when(pl.col("reason").is_null()).then(_key_expr(rules.key))
        dup = pl.col("reason").is_null() & ~valid_key.is_first_distinct()
        frame = frame.with_columns(
            reason=pl.when(dup)
            .then(pl.lit(f"duplicate ({', '.join(rules.key)}); the first occurrence is kept"))
            .otherwise("reason")
        )
    try:
        df = frame.collect()
    except pl.exceptions.PolarsError as exc:
        raise IngestError(f"{path}: not a well-formed CSV in the MovieLens layout ({exc})") from exc
    ok = pl.col("reason").is_null()
    good = df.filter(ok).drop("line", "reason")
    if "ts" in good.columns:
        good = good.with_columns(ts=pl.from_epoch("ts", time_unit="s"))
    rejects = df.filter(~ok).select("line", "reason")
    del df
    if rejects.height:
        rejects = rejects.join(_raw_lines(path, rejects["line"]), on="line", how="left")
        log.warning(
            "%s: %d rows rejected (first: line %d, %s)",
            spec.file,
            rejects.height,
            rejects["line"][0],
            rejects["reason"][0],
        )
    else:
        rejects = rejects.with_columns(raw=pl.lit(None, dtype=pl.String))
    return _Checked(good=good, rejects=rejects, total=good.height + rejects.height)


def _raw_lines(path: Path, lines: pl.Series) -> pl.DataFrame:
    """The original text of the refused rows, for the rejects report (a second, filtered pass)."""
    text = _scan(path, None)
    fields = [c for c in text.collect_schema().names() if c != "line"]
    return (
        text.filter(pl.col("line").is_in(lines.implode()))
        .select("line", raw=pl.concat_str([pl.col(c).fill_null("") for c in fields], separator=","))
        .collect()
    )


# ---------------------------------------------------------------------------------- load


def _load(
    con: duckdb.DuckDBPyConnection,
    manifest: DatasetManifest,
    started: dt.datetime,
    checked: dict[str, _Checked],
    missing: list[str],
    before_commit: Callable[[duckdb.DuckDBPyConnection], None] | None,
) -> int:
    with transaction(con):
        run_sql_file(con, "raw", "tables.sql")  # recreates every raw table, empty
        for file, c in checked.items():
            table = _table_of(file)
            con.register("incoming", c.good.to_arrow())
            cols = ", ".join(c.good.columns)
            con.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM incoming")
            con.unregister("incoming")
        ingest_id = _record(con, manifest, started, checked, missing, "succeeded", None)
        if before_commit is not None:
            before_commit(con)  # a test hook: fail here to prove the rollback
    return ingest_id


def _record(
    con: duckdb.DuckDBPyConnection,
    manifest: DatasetManifest,
    started: dt.datetime,
    checked: dict[str, _Checked],
    missing: list[str],
    status: str,
    error: str | None,
) -> int:
    ingest_id = fetch_one(con, "SELECT nextval('ops.ingest_id_seq')")[0]
    con.execute(
        """INSERT INTO ops.ingests VALUES ($id, $dataset, $source, $verified, $verification, $checksum,
           $files, $rows, $rejects, $missing, $status, $error, $started, $finished)""",
        {
            "id": ingest_id,
            "dataset": manifest.dataset,
            "source": manifest.source,
            "verified": manifest.verified,
            "verification": manifest.verification,
            "checksum": manifest.checksum,
            "files": json.dumps(manifest.files),
            "rows": json.dumps({_table_of(f): c.good.height for f, c in checked.items()}),
            "rejects": json.dumps({f: c.rejects.height for f, c in checked.items()}),
            "missing": missing,
            "status": status,
            "error": error,
            "started": started,
            "finished": _now(),
        },
    )
    for file, c in checked.items():
        if c.rejects.height:
            con.register("rej", c.rejects.to_arrow())
            con.execute(
                "INSERT INTO ops.ingest_rejects SELECT $id, $file, line, reason, raw FROM rej",
                {"id": ingest_id, "file": file},
            )
            con.unregister("rej")
    return ingest_id


def _record_failure(con, manifest, started, checked, missing, error) -> None:  # noqa: ANN001
    """Keep a record of the refused attempt (and its rejects) for diagnosis; raw.* is untouched."""
    with transaction(con):
        _record(con, manifest, started, checked, missing, "failed", error)
