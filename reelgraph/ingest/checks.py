"""Checking one release file: its header, then every row against its file's rules
(reelgraph.ingest.rules), giving the valid rows and the refused ones with their line numbers
(a quoted field may span lines, so a record's line is found from the file's layout).

Imports only Polars."""

from __future__ import annotations

import array
import csv
import dataclasses
import logging
from pathlib import Path

import polars as pl

from reelgraph.core.errors import IngestError, first_line
from reelgraph.ingest.rules import Rules, number, rules_for

log = logging.getLogger(__name__)


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


@dataclasses.dataclass
class CheckedFile:
    good: pl.DataFrame
    rejects: pl.DataFrame  # line, reason, raw
    total: int


def enforce_threshold(file: str, c: CheckedFile, max_fraction: float) -> None:
    if c.total and c.rejects.height / c.total > max_fraction:
        sample = "; ".join(
            f"line {r['line']}: {r['reason']}" for r in c.rejects.head(3).iter_rows(named=True)
        )
        raise IngestError(
            f"{file}: {c.rejects.height} of {c.total} rows rejected "
            f"({c.rejects.height / c.total:.2%} > max_reject_fraction {max_fraction:.2%}), e.g. {sample}"
        )


def _check_header(spec: FileSpec, path: Path) -> None:
    # utf-8-sig: a byte-order mark before the header (Excel's "CSV UTF-8") is not part of it;
    # the rows are read after the header line, so the mark never reaches them.
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as fh:
        header = next(csv.reader(fh), None)
    if header is None:
        raise IngestError(f"{path}: empty file; expected header {','.join(spec.header)}")
    if tuple(h.strip() for h in header) != spec.header:
        raise IngestError(
            f"{path}: header is {','.join(header)[:200]!r}; expected {','.join(spec.header)!r}"
        )


def _scan(
    path: Path,
    header: tuple[str, ...],
    types: dict[str, pl.DataType] | None = None,
    ragged: bool = False,
) -> pl.LazyFrame:
    """The file's fields named by the expected header (so spaces around a header name do not
    matter), read multi-threaded: the `types` columns parsed by the reader (a field that does
    not parse becomes null), the others as text. Bytes that are not UTF-8 become U+FFFD, which
    the rules refuse, instead of failing the file; `ragged` reads rows with more fields than
    the header (their extra fields dropped; the caller refuses those rows)."""
    types = types or {}
    return pl.scan_csv(
        path,
        has_header=False,
        skip_rows=1,
        schema={c: types.get(c, pl.String()) for c in header},
        ignore_errors=bool(types),
        encoding="utf8-lossy",
        truncate_ragged_lines=ragged,
        row_index_name="record",
        row_index_offset=2,
    )


def _key_expr(key: list[str]) -> pl.Expr:
    # Two int32 ids pack into one int64: hashing it is far cheaper than hashing a struct.
    if len(key) == 2:
        return pl.col(key[0]).cast(pl.Int64) * (1 << 32) + pl.col(key[1]).cast(pl.Int64)
    return pl.col(key[0])


def check_file(spec: FileSpec, path: Path, known: dict[str, CheckedFile]) -> CheckedFile:
    """Every row of the file checked against its rules. A clean file is read once with its
    numbers parsed by the reader (fastest). A file with refused rows is read again with every
    field as text, numbers trimmed and then parsed, which is the verdict that counts: ' 4.0'
    and '4.0 ' alike (the reader only takes the first), and rows with too many fields refused
    one by one instead of failing the file."""
    _check_header(spec, path)
    rules = rules_for(spec.file, {f: c.good for f, c in known.items()})
    layout: _Layout | None = None
    try:
        df = _checked_frame(path, spec, rules, parsed_by_reader=True).collect()
        if df["reason"].null_count() < df.height:
            df = _checked_frame(path, spec, rules, parsed_by_reader=False).collect()
    except pl.exceptions.PolarsError as exc:
        if "more fields" not in str(exc):
            raise IngestError(f"{path}: not a well-formed CSV ({first_line(exc)})") from exc
        # Rare and always a mistake: find those rows with the csv module and refuse just them.
        layout = _Layout.of(path)
        df = _checked_frame(path, spec, rules, False, layout.ragged).collect()
    ok = pl.col("reason").is_null()
    good = df.filter(ok).drop("record", "reason")
    if "ts" in good.columns:
        good = good.with_columns(ts=pl.from_epoch("ts", time_unit="s"))
    rejects = df.filter(~ok).select("record", "reason")
    records = df.height
    del df
    if rejects.height:
        raw = _raw_records(path, spec.header, rejects["record"], layout is not None)
        rejects = rejects.join(raw, on="record", how="left")
        if layout is None and _line_count(path) != records + 1:
            layout = _Layout.of(path)  # a quoted field spans lines: records are not lines
        lines = layout.line_of(rejects["record"]) if layout is not None else rejects["record"]
        rejects = rejects.select(pl.Series("line", lines, dtype=pl.Int64), "reason", "raw")
        log.warning(
            "%s: %d rows rejected (first: line %d, %s)",
            spec.file,
            rejects.height,
            rejects["line"][0],
            rejects["reason"][0],
        )
    else:
        rejects = pl.DataFrame(schema={"line": pl.Int64, "reason": pl.String, "raw": pl.String})
    return CheckedFile(good=good, rejects=rejects, total=good.height + rejects.height)


def _checked_frame(
    path: Path,
    spec: FileSpec,
    rules: Rules,
    parsed_by_reader: bool,
    ragged: list[int] | None = None,
) -> pl.LazyFrame:
    """The file's rows as warehouse columns plus the reason each is refused (null: kept)."""
    checks = list(rules.checks)
    if ragged:
        too_many = f"more fields than the {len(spec.header)} of the header"
        checks.insert(0, (too_many, pl.col("record").is_in(ragged)))
    reason = pl.lit(None, dtype=pl.String)
    for why, bad in reversed(checks):
        reason = pl.when(bad).then(pl.lit(why)).otherwise(reason)
    if parsed_by_reader:
        frame = _scan(path, spec.header, rules.types, ragged=ragged is not None)
    else:
        frame = _scan(path, spec.header, None, ragged=ragged is not None).with_columns(
            number(c, t).alias(c) for c, t in rules.types.items()
        )
    frame = (
        frame.with_columns(**rules.columns)
        .with_columns(reason=reason)
        .select("record", *rules.columns, "reason")
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
    return frame


def _raw_records(
    path: Path, header: tuple[str, ...], records: pl.Series, ragged: bool
) -> pl.DataFrame:
    """The original text of the refused rows, for the rejects report (a second, filtered pass)."""
    return (
        _scan(path, header, None, ragged)
        .filter(pl.col("record").is_in(records.implode()))
        .select(
            "record",
            raw=pl.concat_str([pl.col(c).fill_null("") for c in header], separator=",").str.slice(
                0, 500
            ),
        )
        .collect()
    )


def _line_count(path: Path) -> int:
    """Physical lines (a last line without a newline counts)."""
    n, last = 0, b"\n"
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 24):
            n += chunk.count(b"\n")
            last = chunk[-1:]
    return n + (last != b"\n")


@dataclasses.dataclass(frozen=True)
class _Layout:
    """Where each record of a CSV starts (its 1-based physical line) and which records have more
    fields than the header: one pass of the csv module, taken only when needed (a file with
    refused rows whose quoted fields span lines, or with too many fields in a row)."""

    first_line: array.array  # record number (header = 1) -> line; index 0 unused
    ragged: list[int]

    @staticmethod
    def of(path: Path) -> _Layout:
        first_line = array.array("q", [0])
        ragged: list[int] = []
        with open(path, newline="", encoding="utf-8", errors="replace") as fh:
            reader = csv.reader(fh)
            start, width = 1, None
            for row in reader:
                if row:  # blank lines are no record (the reader skips them too)
                    first_line.append(start)
                    width = width or len(row)
                    if len(row) > width:
                        ragged.append(len(first_line) - 1)
                start = reader.line_num + 1
        return _Layout(first_line, ragged)

    def line_of(self, records: pl.Series) -> list[int]:
        return [self.first_line[r] for r in records.to_list()]
