"""Typed, validated load of a MovieLens folder into the warehouse's raw layer.

Each CSV is read as text (Polars, multi-threaded), every row is checked against the rules of its
file (reelgraph.ingest.rules), and refused rows go to `ops.ingest_rejects` with file, line and
reason. All raw tables are replaced inside one DuckDB transaction: a failing ingest leaves the
previous ones untouched.
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

from reelgraph.core.errors import IngestError, first_line
from reelgraph.ingest import profile
from reelgraph.ingest.checks import SPECS, CheckedFile, check_file, enforce_threshold
from reelgraph.ingest.datasets import DatasetManifest
from warehouse import connect, create_tables
from warehouse.connection import fetch_one, transaction

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class IngestResult:
    ingest_id: int
    dataset: str
    data_checksum: str
    row_counts: dict[str, int]
    rejected_rows: dict[str, int]
    missing_files: list[str]
    skipped: bool = False
    drift: list[dict] = dataclasses.field(default_factory=list)  # figures past their bounds
    drift_against: int | None = None  # the previous ingest the profile was compared with


def ingest(
    manifest: DatasetManifest,
    warehouse: str | Path,
    max_reject_fraction: float = 0.01,
    force: bool = False,
    max_drift: bool = False,
    _before_commit: Callable[[duckdb.DuckDBPyConnection], None] | None = None,
) -> IngestResult:
    """Load the manifest's folder into raw.*, unless the warehouse already holds exactly this
    data. Data drift against the dataset's previous ingest is reported in the result, or, with
    max_drift, refused."""
    if not 0.0 <= max_reject_fraction <= 1.0:
        raise IngestError(f"max_reject_fraction must be within [0, 1], got {max_reject_fraction}")
    con = connect(warehouse)
    try:
        create_tables(con, "ops")
        refuse_other_dataset(con, manifest.dataset, warehouse)
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
        checked: dict[str, CheckedFile] = {}
        missing: list[str] = []
        try:
            for spec in SPECS:
                path = folder / spec.file
                if not path.is_file():
                    if spec.required:
                        raise IngestError(f"{path}: required file is missing")
                    missing.append(spec.file)
                    continue
                checked[spec.file] = check_file(spec, path, checked)
                enforce_threshold(spec.file, checked[spec.file], max_reject_fraction)
                if spec.required and checked[spec.file].good.height == 0:
                    raise IngestError(
                        f"{path}: no valid rows (only a header?); refusing to replace "
                        f"{spec.table} with nothing"
                    )
            profiles = {file: profile.profile(c.good) for file, c in checked.items()}
            against, found = _drift(con, manifest.dataset, profiles)
            if max_drift and against is not None:
                profile.refuse(found, against)
        except (IngestError, csv.Error, pl.exceptions.PolarsError) as exc:
            error = str(exc) if isinstance(exc, IngestError) else f"{path}: {first_line(exc)}"
            _record_failure(con, manifest, started, checked, missing, error)
            raise IngestError(error) from exc

        ingest_id = _load(con, manifest, started, checked, missing, profiles, _before_commit)
        return IngestResult(
            ingest_id=ingest_id,
            dataset=manifest.dataset,
            data_checksum=manifest.checksum,
            row_counts={_table_of(f): c.good.height for f, c in checked.items()},
            rejected_rows={f: c.rejects.height for f, c in checked.items()},
            missing_files=missing,
            drift=found,
            drift_against=against,
        )
    finally:
        con.close()


def refuse_other_dataset(con: duckdb.DuckDBPyConnection, dataset: str, warehouse: object) -> None:
    """A warehouse holds one dataset. Its raw tables give published runs their titles and the
    ratings their lists leave out, so loading another dataset over them would change what
    those runs show: refused (a newer export of the same dataset is allowed)."""
    has_runs = fetch_one(
        con,
        "SELECT 1 FROM duckdb_tables() WHERE schema_name = 'ops' AND table_name = 'runs'",
    )
    if not has_runs:
        return
    other = fetch_one(
        con,
        """SELECT dataset, count(*) FROM ops.runs WHERE status = 'published' AND dataset <> ?
           GROUP BY dataset ORDER BY 2 DESC LIMIT 1""",
        [dataset],
    )
    if other:
        raise IngestError(
            f"warehouse {warehouse} holds {other[1]} published run(s) of {other[0]}; loading "
            f"{dataset} over its raw tables would change what they show. Use another "
            f"warehouse for {dataset} (--warehouse FILE)"
        )


def check_warehouse_accepts(warehouse: str | Path, dataset: str) -> None:
    """refuse_other_dataset, read-only, before anything is downloaded or read."""
    if not Path(warehouse).is_file():
        return
    con = connect(warehouse, read_only=True)
    try:
        refuse_other_dataset(con, dataset, warehouse)
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


def _drift(
    con: duckdb.DuckDBPyConnection, dataset: str, profiles: dict[str, dict]
) -> tuple[int | None, list[dict]]:
    """(the dataset's previous successful ingest that has a profile, the figures that moved
    past their bounds since); (None, []) for a first ingest."""
    row = fetch_one(
        con,
        """SELECT max(i.ingest_id) FROM ops.ingests i JOIN ops.ingest_profile p USING (ingest_id)
           WHERE i.dataset = ? AND i.status = 'succeeded'""",
        [dataset],
    )
    if row is None or row[0] is None:
        return None, []
    old = {
        file: json.loads(figures)
        for file, figures in con.execute(
            "SELECT file, profile FROM ops.ingest_profile WHERE ingest_id = ?", [row[0]]
        ).fetchall()
    }
    return row[0], profile.drift(old, profiles)


def _table_of(file: str) -> str:
    return next(s.table for s in SPECS if s.file == file)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


# ---------------------------------------------------------------------------------- checks


# ---------------------------------------------------------------------------------- load


def _load(
    con: duckdb.DuckDBPyConnection,
    manifest: DatasetManifest,
    started: dt.datetime,
    checked: dict[str, CheckedFile],
    missing: list[str],
    profiles: dict[str, dict],
    before_commit: Callable[[duckdb.DuckDBPyConnection], None] | None,
) -> int:
    with transaction(con):
        create_tables(con, "raw")  # recreates every raw table, empty
        for file, c in checked.items():
            table = _table_of(file)
            con.register("incoming", c.good.to_arrow())
            cols = ", ".join(c.good.columns)
            con.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM incoming")
            con.unregister("incoming")
        ingest_id = _record(con, manifest, started, checked, missing, "succeeded", None)
        for file, figures in profiles.items():
            con.execute(
                "INSERT INTO ops.ingest_profile VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    ingest_id,
                    file,
                    figures["rows"],
                    *(figures.get(k) for k in ("users", "movies", "rating_mean")),
                    *(figures.get(k) for k in ("first_at", "last_at")),
                    json.dumps(figures),
                ],
            )
        if before_commit is not None:
            before_commit(con)  # a test hook: fail here to prove the rollback
    return ingest_id


def _record(
    con: duckdb.DuckDBPyConnection,
    manifest: DatasetManifest,
    started: dt.datetime,
    checked: dict[str, CheckedFile],
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
