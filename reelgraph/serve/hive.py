"""Published marts as Hive-partitioned Parquet, for engines other than this DuckDB file.

`outputs/marts/<table>/run_id=<run_id>/part-0.parquet` holds exactly the rows `marts.<table>`
holds for that run, without the run_id column: Spark, Trino, Polars or DuckDB elsewhere read it
back from the folder name (hive partitioning). The partitions present are the published (and
held) runs that retention keeps: written right after the publish transaction commits, removed
when a run is pruned. Each file appears by an atomic rename (readers never see half a file); the warehouse
stays the embedded default and the one place that says which run is the latest (ops.latest).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import duckdb

TABLES = ("recommendations", "least_relevant", "user_embeddings", "movie_embeddings", "metrics")
PART = "part-0.parquet"


def partition(marts_root: Path, table: str, run_id: str) -> Path:
    return marts_root / table / f"run_id={run_id}"


def export_run(
    con: duckdb.DuckDBPyConnection, marts_root: Path, run_id: str, prepared: dict[str, Path]
) -> None:
    """Give the run a partition in every mart table (replacing an older copy). `prepared`: the
    Parquet files whose rows the publish just loaded into marts.<table>; they are hard-linked,
    not written again (copied only across file systems). Metrics come from the warehouse,
    where the evaluate stage wrote them."""
    import pyarrow.parquet as pq

    for table, path in prepared.items():
        _put(partition(marts_root, table, run_id), lambda tmp, path=path: _link(path, tmp))
    rows = con.sql(
        "SELECT * EXCLUDE (run_id) FROM marts.metrics WHERE run_id = ?", params=[run_id]
    ).to_arrow_table()
    _put(partition(marts_root, "metrics", run_id), lambda tmp: pq.write_table(rows, tmp))


def _put(folder: Path, write: Callable[[Path], None]) -> None:
    """Write the partition's file under a dot name (readers' *.parquet globs skip it), then
    rename it into place: readers never see half a file."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{PART}.tmp"
    tmp.unlink(missing_ok=True)  # left by a publish killed mid-export
    write(tmp)
    tmp.replace(folder / PART)


def _link(source: Path, dest: Path) -> None:
    try:
        os.link(source, dest)
    except OSError:
        shutil.copyfile(source, dest)


def drop_runs(marts_root: Path, run_ids: list[str]) -> None:
    """Remove the partitions of runs that left the warehouse's marts (pruned or never published)."""
    for run_id in run_ids:
        for table in TABLES:
            shutil.rmtree(partition(marts_root, table, run_id), ignore_errors=True)
