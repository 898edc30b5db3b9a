"""The shared read-only connection a server keeps: reused between requests, given back when idle
and as soon as a writer in another process is waiting for the file."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest

from warehouse.connection import SharedReadConnection, connect, writer_waiting


@pytest.fixture()
def warehouse(tmp_path: Path) -> Path:
    path = tmp_path / "w.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE t (i INTEGER)")
        con.execute("INSERT INTO t VALUES (1)")
    return path


_WRITER = textwrap.dedent("""
    import sys, time
    from warehouse import connect
    start = time.monotonic()
    con = connect(sys.argv[1], timeout_s=30)
    con.execute("INSERT INTO t VALUES (2)")
    con.close()
    print(time.monotonic() - start)
""")


def _count(con: duckdb.DuckDBPyConnection) -> int:
    return con.execute("SELECT count(*) FROM t").fetchall()[0][0]


def test_requests_share_one_connection_with_the_macros(warehouse: Path) -> None:
    shared = SharedReadConnection(warehouse, idle_s=30)
    with shared.cursor() as a:
        root = shared._root
        assert a.execute("SELECT movie_year('Heat (1995)')").fetchall() == [(1995,)]
    with shared.cursor() as b:
        assert shared._root is root and _count(b) == 1
    shared.close()
    assert not shared.is_open


def test_an_idle_connection_is_given_back_so_a_writer_gets_in(warehouse: Path) -> None:
    shared = SharedReadConnection(warehouse, idle_s=0.2, poll_s=0.02)
    with shared.cursor() as con:
        assert _count(con) == 1
    time.sleep(0.6)
    assert not shared.is_open
    writer = subprocess.run(
        [sys.executable, "-c", _WRITER, str(warehouse)], capture_output=True, text=True, timeout=60
    )
    assert writer.returncode == 0, writer.stderr
    with shared.cursor() as con:
        assert _count(con) == 2


def test_a_waiting_writer_gets_in_while_requests_keep_coming(warehouse: Path) -> None:
    """Never idle: a request every 10 ms. Without the writer's marker the shared connection would
    hold the file for ever and the writer would time out after 30 s."""
    shared = SharedReadConnection(warehouse, idle_s=60, poll_s=0.02, timeout_s=30)
    with shared.cursor() as con:
        assert _count(con) == 1
    writer = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(warehouse)], stdout=subprocess.PIPE, text=True
    )
    answers = []
    deadline = time.monotonic() + 60
    while writer.poll() is None and time.monotonic() < deadline:
        with shared.cursor() as con:  # raises if a request cannot be answered
            answers.append(_count(con))
        time.sleep(0.01)
    out, _ = writer.communicate(timeout=5)
    assert writer.returncode == 0
    assert float(out) < 10  # it waited for the requests in flight, not for the 60 s idle time
    with shared.cursor() as con:
        assert _count(con) == 2
    assert set(answers) <= {1, 2} and answers[0] == 1
    assert not writer_waiting(warehouse)  # the writer took its marker away
    shared.close()


def test_the_marker_of_a_dead_writer_is_ignored(warehouse: Path) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    marker = warehouse.with_name(f"{warehouse.name}.writer-waiting.{int(dead.stdout)}")
    marker.write_text("")
    assert not writer_waiting(warehouse)
    marker.with_name(marker.name.rsplit(".", 1)[0] + ".1").write_text("")  # pid 1 is alive
    assert writer_waiting(warehouse)
    connect(warehouse, read_only=True).close()
