"""Hardening, round two (issue 34): a refusal inside a flow printed Prefect's tracebacks before
its one line (case 2); kill -9 of a command left Prefect's temporary server running (case 3)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.test_hostile import ROOT, tiny_run

# 2 ---------------------------------------------- a refusal inside a flow: no traceback


def _cli(*argv: str, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run(
        [sys.executable, "-m", "reelgraph", *argv],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture()
def header_only(tiny_dir: Path, tmp_path: Path) -> Path:
    src = tmp_path / "src"
    shutil.copytree(tiny_dir, src)
    (src / "ratings.csv").write_text("userId,movieId,rating,timestamp\n")
    return src


@pytest.fixture()
def many_bad_rows(tiny_dir: Path, tmp_path: Path) -> Path:
    """Every other rating unreadable: past the 1% threshold, which only the ingest can tell."""
    src = tmp_path / "bad"
    shutil.copytree(tiny_dir, src)
    header, *rows = (src / "ratings.csv").read_text().splitlines()
    broken = [
        r if i % 2 else r.replace(",", ",x,", 1).rsplit(",", 1)[0] for i, r in enumerate(rows)
    ]
    (src / "ratings.csv").write_text("\n".join([header, *broken]) + "\n")
    return src


def _env(tmp_path: Path) -> dict:
    return {"PREFECT_HOME": str(tmp_path / "prefect"), "REELGRAPH_CACHE": str(tmp_path / "cache")}


def test_a_header_only_export_is_one_line_before_any_work(
    header_only: Path, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    done = _cli(*tiny_run(header_only, work / "w.duckdb", work / "out"), env_extra=_env(tmp_path))
    out = (done.stdout + done.stderr).strip()
    assert done.returncode == 1 and len(out.splitlines()) <= 3, out
    assert "ratings.csv: no data rows" in out and not work.exists()


def test_a_refusal_inside_a_flow_prints_no_traceback(many_bad_rows: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    done = _cli(*tiny_run(many_bad_rows, work / "w.duckdb", work / "out"), env_extra=_env(tmp_path))
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert "Traceback" not in out and "ERROR" not in out, out
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("reelgraph run:") and "max_reject_fraction" in last
    assert out.count("max_reject_fraction") == 1  # said once, not once per task and flow

    argv = ["ingest", "--dataset", "tiny", "--source", str(many_bad_rows)]
    debug = _cli("--debug", *argv, "--warehouse", str(work / "w.duckdb"), env_extra=_env(tmp_path))
    assert debug.returncode == 1 and "Traceback" in debug.stderr


# 3 ------------------------------------------- kill -9 takes Prefect's temporary server along


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has stopped; only its exit status is left to collect


def _prefect_server_of(pid: int, timeout: float) -> int | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for child in _children(pid):
            try:
                if b"prefect.server" in Path(f"/proc/{child}/cmdline").read_bytes():
                    return child
            except OSError:
                continue
        time.sleep(0.2)
    return None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal")
def test_kill_9_leaves_no_prefect_server(tiny_dir: Path, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "REELGRAPH_CACHE": str(tmp_path / "c"),
    }
    env.pop("PREFECT_API_URL", None)
    command = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "reelgraph",
            *tiny_run(tiny_dir, tmp_path / "w.duckdb", tmp_path / "o"),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        server = _prefect_server_of(command.pid, timeout=120)
        assert server is not None, "the run never started a Prefect server"
    finally:
        command.kill()  # SIGKILL: no handler, no atexit
        command.wait()
    deadline = time.monotonic() + 10
    while _alive(server) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _alive(server), f"Prefect server {server} outlived its command by 10 s"


# 6 ------------------------------------------------- the outputs folder replaced mid-run


def test_outputs_replaced_by_a_file_mid_run_is_one_line(
    tiny_dir: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch
) -> None:
    import duckdb
    from prefect.testing.utilities import prefect_test_harness

    import tasks.model_tasks
    from reelgraph.cli.main import main

    outputs = tmp_path / "out"
    trained = tasks.model_tasks.train

    def train_then_replace_outputs(*a: object, **k: object) -> object:
        result = trained(*a, **k)
        shutil.rmtree(outputs)
        outputs.write_text("not a folder")  # what a careless cleanup leaves
        return result

    monkeypatch.setattr(tasks.model_tasks, "train", train_then_replace_outputs)
    monkeypatch.setenv("REELGRAPH_CACHE", str(tmp_path / "cache"))
    with prefect_test_harness(server_startup_timeout=120):
        code = main([*tiny_run(tiny_dir, tmp_path / "w.duckdb", outputs), "--epochs", "2"])
    out, err = capfd.readouterr()
    assert code == 1
    assert "Traceback" not in out + err, err[-3000:]
    last = err.strip().splitlines()[-1]
    assert last.startswith("reelgraph run:") and str(outputs) in last and "is a file" in last
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        published = con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'ops' AND table_name = 'runs'"
        ).fetchone()[0]
        assert published == 0 or con.execute("SELECT count(*) FROM ops.runs").fetchone() == (0,)
