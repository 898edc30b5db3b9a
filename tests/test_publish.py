from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest

from reelgraph.serve.publish import RunRecord, publish_run

K = 5


def _record(env: dict, run_id: str) -> RunRecord:
    return RunRecord(
        run_id=run_id,
        dataset="tiny",
        data_checksum=env["checksum"],
        split_id=env["split"].split_id,
        params={"k": K},
        seed=0,
        device="cpu",
        timings={"train": 1.0},
        started_at=dt.datetime(2026, 1, 1) + dt.timedelta(minutes=int(run_id[-1])),
    )


def _warehouse(env: dict, tmp_path: Path) -> Path:
    wh = tmp_path / "w.duckdb"
    shutil.copy(env["warehouse"], wh)
    return wh


def _publish(env: dict, model: Path, wh: Path, run_id: str, **kw):
    return publish_run(
        wh,
        _record(env, run_id),
        env["graph"],
        model,
        wh.parent / "runs" / run_id,
        k=K,
        device="cpu",
        **kw,
    )


def _latest(wh: Path) -> dict[str, set]:
    with duckdb.connect(str(wh), read_only=True) as con:
        return {
            v: {r[0] for r in con.execute(f"SELECT DISTINCT run_id FROM marts.{v}").fetchall()}
            for v in (
                "recommendations_latest",
                "least_relevant_latest",
                "user_embeddings_latest",
                "movie_embeddings_latest",
            )
        }


def test_publish_writes_marts_files_and_documents_every_column(
    tiny_env: dict, tiny_model: Path, tmp_path: Path
) -> None:
    wh = _warehouse(tiny_env, tmp_path)
    result = _publish(tiny_env, tiny_model, wh, "run-1")
    n_users = tiny_env["graph"].n_users
    assert result.recommendations == n_users * K and Path(result.parquet).is_file()
    assert all(v == {"run-1"} for v in _latest(wh).values())
    with duckdb.connect(str(wh), read_only=True) as con:
        # Rated movies (held-out ones too) are never recommended, ranks run 1..K, explanations
        # are movies the user rated highly.
        for table in ("recommendations", "least_relevant"):
            leaked = con.execute(
                f"""
                SELECT count(*) FROM marts.{table} r JOIN staging.split_ratings s
                  ON s.user_id = r.user_id AND s.movie_id = r.movie_id
                WHERE s.split_id = ?""",
                [tiny_env["split"].split_id],
            ).fetchall()[0][0]
            assert leaked == 0, table
        assert con.execute("SELECT min(rank), max(rank) FROM marts.recommendations").fetchall() == [
            (1, K)
        ]
        bad_because = con.execute("""
            SELECT count(*) FROM marts.recommendations r
            WHERE because_movie_id IS NOT NULL AND NOT EXISTS (
              SELECT 1 FROM staging.split_ratings s WHERE s.user_id = r.user_id AND s.movie_id = r.because_movie_id
                AND s.rating >= 4)""").fetchall()[0][0]
        assert bad_because == 0
        assert con.execute("SELECT status, code_version <> '' FROM ops.runs").fetchall() == [
            ("published", True)
        ]
        undocumented = con.execute("""
            SELECT table_name, column_name FROM duckdb_columns()
            WHERE schema_name = 'marts' AND (comment IS NULL OR comment = '')
              AND table_name IN (SELECT table_name FROM duckdb_tables() WHERE schema_name = 'marts')""").fetchall()
        assert undocumented == []


def test_failure_midway_leaves_latest_on_the_previous_run(
    tiny_env: dict, tiny_model: Path, tmp_path: Path
) -> None:
    wh = _published_once(tiny_env, tiny_model, tmp_path)

    def crash(con: duckdb.DuckDBPyConnection) -> None:
        assert (
            con.execute(
                "SELECT count(*) FROM marts.recommendations WHERE run_id = 'run-2'"
            ).fetchall()[0][0]
            > 0
        )
        raise RuntimeError("publish interrupted (simulated)")

    with pytest.raises(RuntimeError, match="simulated"):
        _publish(tiny_env, tiny_model, wh, "run-2", _before_commit=crash)
    assert all(v == {"run-1"} for v in _latest(wh).values())
    with duckdb.connect(str(wh), read_only=True) as con:
        assert con.execute(
            "SELECT count(*) FROM marts.recommendations WHERE run_id = 'run-2'"
        ).fetchall() == [(0,)]


_PUBLISHER = textwrap.dedent("""
    import sys, time, datetime as dt
    from pathlib import Path
    from reelgraph.graph.ratings import RatingGraph
    from reelgraph.serve.publish import RunRecord, publish_run
    wh, graph, model, checksum, split, run_id, flag, hold = sys.argv[1:9]
    def hook(con):
        Path(flag).write_text("inside")
        time.sleep(float(hold))
    rec = RunRecord(run_id, "tiny", checksum, split, {}, 0, "cpu", {}, dt.datetime(2026, 1, 2))
    publish_run(wh, rec, RatingGraph.load(graph), model, Path(wh).parent / "runs" / run_id, k=5, device="cpu", _before_commit=hook)
""")


def _published_once(env: dict, model: Path, tmp_path: Path) -> Path:
    """A warehouse whose latest run is run-1."""
    wh = _warehouse(env, tmp_path)
    _publish(env, model, wh, "run-1")
    return wh


def _start_publisher(
    env: dict, model: Path, wh: Path, run_id: str, hold: float
) -> tuple[subprocess.Popen, Path]:
    """A publisher in another process that, inside its transaction, creates the returned flag
    file and waits `hold` seconds before committing."""
    flag = wh.parent / f"inside-{run_id}"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            _PUBLISHER,
            str(wh),
            str(env["graph_path"]),
            str(model),
            env["checksum"],
            env["split"].split_id,
            run_id,
            str(flag),
            str(hold),
        ]
    )
    return proc, flag


def _wait_for(path: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def test_killed_publisher_leaves_latest_on_the_previous_run(
    tiny_env: dict, tiny_model: Path, tmp_path: Path
) -> None:
    wh = _published_once(tiny_env, tiny_model, tmp_path)
    proc, flag = _start_publisher(tiny_env, tiny_model, wh, "run-2", hold=60)
    _wait_for(flag)  # the publisher is inside its transaction, rows of run-2 inserted
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert all(v == {"run-1"} for v in _latest(wh).values())
    with duckdb.connect(str(wh), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM ops.runs WHERE run_id = 'run-2'").fetchall() == [
            (0,)
        ]


_READER = textwrap.dedent("""
    import sys, time, json
    from warehouse import connect
    wh, seconds, out = sys.argv[1], float(sys.argv[2]), sys.argv[3]
    answers, errors, end = [], [], time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            con = connect(wh, read_only=True, timeout_s=30)
            answers.append(con.execute(
                "SELECT run_id, count(*) FROM marts.recommendations_latest GROUP BY run_id").fetchall())
            con.close()
        except Exception as exc:
            errors.append(repr(exc))
        time.sleep(0.05)
    open(out, "w").write(json.dumps({"answers": answers, "errors": errors}))
""")


def test_a_reader_in_another_process_keeps_getting_whole_runs(
    tiny_env: dict, tiny_model: Path, tmp_path: Path
) -> None:
    import json

    wh = _published_once(tiny_env, tiny_model, tmp_path)
    out = tmp_path / "reader.json"
    reader = subprocess.Popen([sys.executable, "-c", _READER, str(wh), "12", str(out)])
    time.sleep(2)
    pub, _ = _start_publisher(tiny_env, tiny_model, wh, "run-2", hold=1.5)
    assert pub.wait(timeout=120) == 0
    assert reader.wait(timeout=120) == 0
    seen = json.loads(out.read_text())
    assert seen["errors"] == []
    full = tiny_env["graph"].n_users * K
    runs_seen = [a[0][0] for a in seen["answers"]]
    assert all(
        len(a) == 1 and a[0][1] == full for a in seen["answers"]
    )  # one whole run, never a mix
    assert runs_seen[0] == "run-1" and runs_seen[-1] == "run-2"


def test_retention_keeps_the_newest_runs_and_never_the_latest(
    tiny_env: dict, tiny_model: Path, tmp_path: Path
) -> None:
    wh = _warehouse(tiny_env, tmp_path)
    for i in (1, 2, 3):
        result = _publish(tiny_env, tiny_model, wh, f"run-{i}", retention=2)
    assert result.pruned_runs == ["run-1"]
    assert not (tmp_path / "runs" / "run-1").exists() and (tmp_path / "runs" / "run-3").exists()
    with duckdb.connect(str(wh), read_only=True) as con:
        status = dict(con.execute("SELECT run_id, status FROM ops.runs").fetchall())
        assert status == {"run-1": "pruned", "run-2": "published", "run-3": "published"}
        assert {
            r[0]
            for r in con.execute("SELECT DISTINCT run_id FROM marts.recommendations").fetchall()
        } == {"run-2", "run-3"}
    assert all(v == {"run-3"} for v in _latest(wh).values())


def test_hive_partitioned_marts_match_the_warehouse_for_kept_runs(
    tiny_env: dict, tiny_model: Path, tmp_path: Path
) -> None:
    """What Spark or Trino would read (hive partitioning on run_id) is what marts.* holds for
    the runs retention keeps; a pruned run's partitions go with it."""
    from reelgraph.serve.hive import TABLES
    from warehouse import create_tables

    wh = _warehouse(tiny_env, tmp_path)
    for i in (1, 2, 3):
        with duckdb.connect(str(wh)) as con:  # a metrics row, as the evaluate stage writes it
            create_tables(con, "marts", "metrics.toml")
            con.execute(
                "INSERT INTO marts.metrics VALUES (?, 'graphsage', 'test', 'rmse', NULL, ?)",
                [f"run-{i}", 0.8 + i / 100],
            )
        _publish(tiny_env, tiny_model, wh, f"run-{i}", retention=2)
    marts = tmp_path / "marts"
    assert sorted(p.name for p in (marts / "recommendations").iterdir()) == [
        "run_id=run-2",
        "run_id=run-3",
    ]
    other = duckdb.connect()  # another engine: knows nothing but the folder
    with duckdb.connect(str(wh), read_only=True) as con:
        for table in TABLES:
            cols = [r[0] for r in con.execute(f"DESCRIBE marts.{table}").fetchall()]
            order = ", ".join(cols)
            ours = con.execute(f"SELECT {order} FROM marts.{table} ORDER BY ALL").fetchall()
            theirs = other.execute(
                f"SELECT {order} FROM read_parquet(?, hive_partitioning = true) ORDER BY ALL",
                [str(marts / table / "*" / "*.parquet")],
            ).fetchall()
            assert ours and theirs == ours, table
    assert not list(marts.rglob(".*.tmp"))
