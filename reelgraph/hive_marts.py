"""Published marts as Hive-partitioned Parquet, for engines other than this DuckDB file.

`outputs/marts/<table>/run_id=<run_id>/part-0.parquet` holds exactly the rows `marts.<table>`
holds for that run, without the run_id column: Spark, Trino, Polars or DuckDB elsewhere read it
back from the folder name (hive partitioning). The partitions present are the published runs
that retention keeps: written right after the publish transaction commits, removed when a run
is pruned. Each file appears by an atomic rename (readers never see half a file); the warehouse
stays the embedded default and the one place that says which run is the latest (ops.latest).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb

TABLES = ("recommendations", "least_relevant", "user_embeddings", "movie_embeddings", "metrics")
PART = "part-0.parquet"


def partition(marts_root: Path, table: str, run_id: str) -> Path:
    return marts_root / table / f"run_id={run_id}"


def export_run(con: duckdb.DuckDBPyConnection, marts_root: Path, run_id: str) -> None:
    """Write the run's rows of every mart table as its partition (replacing an older copy)."""
    import pyarrow.parquet as pq

    for table in TABLES:
        folder = partition(marts_root, table, run_id)
        folder.mkdir(parents=True, exist_ok=True)
        rows = con.sql(
            f"SELECT * EXCLUDE (run_id) FROM marts.{table} WHERE run_id = ?", params=[run_id]
        ).to_arrow_table()
        tmp = folder / f".{PART}.tmp"  # a dot name: readers' *.parquet globs skip it
        pq.write_table(rows, tmp)
        tmp.replace(folder / PART)


def drop_runs(marts_root: Path, run_ids: list[str]) -> None:
    """Remove the partitions of runs that left the warehouse's marts (pruned or never published)."""
    for run_id in run_ids:
        for table in TABLES:
            shutil.rmtree(partition(marts_root, table, run_id), ignore_errors=True)
