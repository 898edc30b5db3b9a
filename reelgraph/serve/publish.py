"""Publish a finished run: recommendation marts, embeddings, the run registry, *_latest views,
retention, and the run's files (recommendations.parquet, model card).

All heavy work (scoring every user, explanations) happens before the warehouse is opened; the
write is one short transaction, so readers in other processes (which retry a held lock with
backoff) wait at most that long, and see the previous run or the new one, never half.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib.metadata
import json
import logging
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import duckdb

from reelgraph.core import runs
from reelgraph.core.errors import ReadError
from reelgraph.core.run_layout import RunLayout, marts_dir
from reelgraph.graph.ratings import RatingGraph
from reelgraph.serve import hive
from reelgraph.serve.list_files import MART_FILES, PreparedRun, prepare_run
from warehouse import connect, create_tables, run_sql_file
from warehouse.connection import fetch_one, transaction

log = logging.getLogger(__name__)

PACKAGES = (
    "reelgraph",
    "torch",
    "torch-geometric",
    "prefect",
    "duckdb",
    "polars",
    "numpy",
    "scikit-learn",
)


@dataclasses.dataclass(frozen=True)
class RunRecord:
    run_id: str
    dataset: str
    data_checksum: str
    split_id: str
    params: dict
    seed: int
    device: str
    timings: dict[str, float]
    started_at: dt.datetime
    flow_run_id: str | None = None
    spec: dict | None = None  # the run spec whole (None: a refresh)
    graph_path: str | None = None
    model_path: str | None = None
    refresh_of: str | None = None
    gate: dict | None = None  # the publish gate's verdict (reelgraph.serve.publish_gate)

    @property
    def held(self) -> bool:
        return bool(self.gate and self.gate.get("held"))


@dataclasses.dataclass(frozen=True)
class PublishResult:
    run_id: str
    recommendations: int
    least_relevant: int
    users: int
    pruned_runs: list[str]
    parquet: str


def publish_run(
    warehouse: str | Path,
    record: RunRecord,
    graph: RatingGraph,
    model_path: str | Path,
    run_dir: str | Path,
    k: int = 20,
    retention: int = 5,
    device: str = "auto",
    _before_commit: Callable[[duckdb.DuckDBPyConnection], None] | None = None,
) -> PublishResult:
    """Write the run's marts and files and make it the latest of its dataset, atomically.
    (The pipeline runs the two halves as separate tasks, with the figures and model card
    between them, so a published run always has its card.)"""
    prepared = prepare_run(graph, model_path, run_dir, k, device)
    return commit_run(warehouse, record, prepared, retention, _before_commit)


def commit_run(
    warehouse: str | Path,
    record: RunRecord,
    prepared: PreparedRun,
    retention: int = 5,
    _before_commit: Callable[[duckdb.DuckDBPyConnection], None] | None = None,
) -> PublishResult:
    """Load the prepared rows into the marts, register the run and make it the latest of its
    dataset, prune old runs and leftovers of runs that never published: one transaction."""
    if retention < 1:
        raise ValueError(f"retention must keep at least 1 run, got {retention}")
    run_dir = Path(prepared.run_dir)
    outputs_root = run_dir.parent
    marts_root = marts_dir(RunLayout(run_dir).outputs)
    con = connect(warehouse)
    try:
        create_tables(con, "marts", "metrics.toml")
        create_tables(con, "marts")
        run_sql_file(con, "marts", "latest_views.sql")
        with transaction(con):
            for table, name in MART_FILES.items():
                con.execute(f"DELETE FROM marts.{table} WHERE run_id = ?", [record.run_id])
                con.execute(
                    f"INSERT INTO marts.{table} BY NAME SELECT ? AS run_id, * FROM read_parquet(?)",
                    [record.run_id, str(run_dir / name)],
                )
            _register_run(con, record)
            if not record.held:  # a held run keeps its rows; the latest stays what it was
                con.execute(
                    "INSERT OR REPLACE INTO ops.latest VALUES (?, ?)",
                    [record.dataset, record.run_id],
                )
            pruned = _prune(con, record.dataset, retention)
            strays = _unpublished(con, outputs_root, Path(warehouse))
            if _before_commit is not None:
                _before_commit(con)  # a test hook: fail (or be killed) inside the transaction
        prepared_files = {table: run_dir / name for table, name in MART_FILES.items()}
        hive.export_run(con, marts_root, record.run_id, prepared_files)  # now published
    finally:
        con.close()
    hive.drop_runs(marts_root, pruned + strays)
    for old in pruned + strays:
        shutil.rmtree(outputs_root / old, ignore_errors=True)
    log.info(
        "%s run %s: %d recommendations for %d users; pruned %s; removed %s",
        "held" if record.held else "published",
        record.run_id,
        prepared.recommendations,
        prepared.users,
        pruned or "nothing",
        f"{len(strays)} unpublished run(s)" if strays else "no leftovers",
    )
    return PublishResult(
        record.run_id,
        prepared.recommendations,
        prepared.least_relevant,
        prepared.users,
        pruned,
        str(run_dir / MART_FILES["recommendations"]),
    )


def promote(warehouse: str | Path, run_id: str) -> str:
    """Make a held (or an earlier published) run the latest of its dataset by hand: the same
    switch as a publish, in one transaction. Returns the run's dataset."""
    con = connect(warehouse)
    try:
        has_runs = fetch_one(
            con, "SELECT 1 FROM duckdb_tables() WHERE schema_name = 'ops' AND table_name = 'runs'"
        )
        row = (
            fetch_one(con, "SELECT dataset, status FROM ops.runs WHERE run_id = ?", [run_id])
            if has_runs
            else None
        )
        if row is None:
            raise ReadError(f"unknown run {run_id!r}; `reelgraph runs` lists the runs")
        dataset, status = row
        if status not in runs.KEPT_STATUSES:
            raise ReadError(f"run {run_id!r} is {status}: its rows are gone, it cannot be promoted")
        with transaction(con):
            con.execute("UPDATE ops.runs SET status = 'published' WHERE run_id = ?", [run_id])
            con.execute("INSERT OR REPLACE INTO ops.latest VALUES (?, ?)", [dataset, run_id])
    finally:
        con.close()
    log.info("promoted run %s: the latest of %s", run_id, dataset)
    return dataset


def _unpublished(con: duckdb.DuckDBPyConnection, outputs_root: Path, warehouse: Path) -> list[str]:
    """Runs of this warehouse that left metrics rows or a folder but never published (killed,
    or failed) and are not running now: their metrics rows are deleted here; their folders go
    after the commit. A folder counts as this warehouse's when its run.lock names it."""
    published = {
        r for (r,) in con.execute(f"SELECT run_id FROM ops.runs WHERE {runs.KEPT_SQL}").fetchall()
    }
    in_metrics = {r for (r,) in con.execute("SELECT DISTINCT run_id FROM marts.metrics").fetchall()}
    mine = str(Path(warehouse).resolve())
    folders = (
        {p.name for p in outputs_root.iterdir() if p.is_dir() and runs.run_warehouse(p) == mine}
        if outputs_root.is_dir()
        else set()
    )
    strays = sorted(
        r for r in (in_metrics | folders) - published if not runs.is_running(outputs_root / r)
    )
    for run_id in strays:
        con.execute("DELETE FROM marts.metrics WHERE run_id = ?", [run_id])
    return strays


def _register_run(con: duckdb.DuckDBPyConnection, rec: RunRecord) -> None:
    con.execute("DELETE FROM ops.runs WHERE run_id = ?", [rec.run_id])
    row = {
        "run_id": rec.run_id,
        "flow_run_id": rec.flow_run_id,
        "dataset": rec.dataset,
        "data_checksum": rec.data_checksum,
        "split_id": rec.split_id,
        "params": json.dumps(rec.params, default=str),
        "seed": rec.seed,
        "code_version": code_version(),
        "package_versions": json.dumps(package_versions()),
        "device": rec.device,
        "timings": json.dumps(rec.timings),
        "started_at": rec.started_at,
        "finished_at": dt.datetime.now(dt.UTC).replace(tzinfo=None),
        "status": "held" if rec.held else "published",
        "spec": None if rec.spec is None else json.dumps(rec.spec),
        "graph_path": rec.graph_path,
        "model_path": rec.model_path,
        "refresh_of": rec.refresh_of,
        "gate": None if rec.gate is None else json.dumps(rec.gate),
    }
    # By name: a warehouse made before the later columns has them in another order.
    con.execute(
        f"INSERT INTO ops.runs ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
        list(row.values()),
    )


def _prune(con: duckdb.DuckDBPyConnection, dataset: str, retention: int) -> list[str]:
    """Drop the marts rows of published and held runs beyond the newest `retention` of this
    dataset; the run ops.latest points at and the newest held run are never dropped."""
    rows = con.execute(
        f"""SELECT run_id FROM ops.runs
           WHERE dataset = $dataset AND {runs.KEPT_SQL}
             AND run_id NOT IN (SELECT run_id FROM ops.latest)
             AND run_id IS DISTINCT FROM (
                 SELECT run_id FROM ops.runs WHERE dataset = $dataset AND status = 'held'
                 ORDER BY finished_at DESC, run_id DESC LIMIT 1)
           ORDER BY finished_at DESC, run_id DESC""",
        {"dataset": dataset},
    ).fetchall()
    old = [r[0] for r in rows[max(retention - 1, 0) :]]  # the latest counts as one kept run
    for run_id in old:
        for table in (
            "recommendations",
            "least_relevant",
            "user_embeddings",
            "movie_embeddings",
            "metrics",
        ):
            con.execute(f"DELETE FROM marts.{table} WHERE run_id = ?", [run_id])
        con.execute("UPDATE ops.runs SET status = 'pruned' WHERE run_id = ?", [run_id])
    return old


def code_version() -> str:
    here = Path(__file__).resolve().parents[2]  # the project root
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
        return sha + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "reelgraph " + importlib.metadata.version("reelgraph")


def package_versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out
