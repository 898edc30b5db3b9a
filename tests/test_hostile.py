"""Hostile input, one test per case of the hardening issue: each is refused with one line
(exit code 1 on the command line, 4xx in the explorer) and changes nothing, or, where a row
is at fault, that row alone is refused."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import duckdb
import pytest

from reelgraph.cli.main import main
from reelgraph.core.errors import ReelgraphError
from reelgraph.ingest.archives import ZipLimits, extract_zip
from reelgraph.ingest.datasets import DatasetError, acquire
from reelgraph.ingest.load import IngestError, ingest
from tests.conftest import republish_record, write_dataset

ROOT = Path(__file__).resolve().parent.parent


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def listing(folder: Path) -> list[tuple[str, int]]:
    return sorted(
        (str(p.relative_to(folder)), p.stat().st_size) for p in folder.rglob("*") if p.is_file()
    )


def refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run the command line; assert exit 1 and one line on stderr; return that line."""
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 1, err
    assert len(err.splitlines()) == 1, err
    return err


def tiny_run(tiny_dir: Path, warehouse: Path, outputs: Path) -> list[str]:
    """`reelgraph run` on the tiny preset, writing only the given warehouse and outputs."""
    return [
        "run",
        "--dataset",
        "tiny",
        "--source",
        str(tiny_dir),
        "--warehouse",
        str(warehouse),
        "--outputs",
        str(outputs),
    ]


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.fixture()
def warehouse(tiny_dir: Path, tmp_path: Path) -> Path:
    wh = tmp_path / "w.duckdb"
    ingest(acquire("tiny", source=tiny_dir, cache_dir=tmp_path / "cache"), wh)
    return wh


# 1 ----------------------------------------------------------------------------------- sql


@pytest.mark.parametrize(
    ("query", "why"),
    [
        ("COPY (SELECT 1) TO '{tmp}/x.csv'", "COPY"),
        ("EXPORT DATABASE '{tmp}/export'", "EXPORT"),
        ("ATTACH '{tmp}/other.duckdb' AS o", "ATTACH"),
        ("SELECT * FROM read_csv('/etc/passwd')", "disabled"),
        ("SELECT * FROM read_text('/etc/hostname')", "disabled"),
        ("SELECT * FROM glob('/*')", "disabled"),
        ("INSTALL httpfs", "LOAD"),
        ("SET threads = 1", "SET"),
        ("DROP TABLE raw.ratings", "DROP"),
        ("DELETE FROM raw.ratings", "DELETE"),
        ("SELECT 1; DROP TABLE raw.ratings", "exactly one"),
    ],
)
def test_sql_only_reads_the_warehouse(
    warehouse: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], query: str, why: str
) -> None:
    before = digest(warehouse)
    err = refused(["sql", "--warehouse", str(warehouse), query.format(tmp=tmp_path)], capsys)
    assert why in err
    assert digest(warehouse) == before
    assert not any((tmp_path / n).exists() for n in ("x.csv", "export", "other.duckdb"))


def test_sql_still_reads(warehouse: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sql", "--warehouse", str(warehouse), "SELECT count(*) AS n FROM raw.movies"]) == 0
    assert "n" in capsys.readouterr().out


# 2 ---------------------------------------------------------------- dataset names and cache


@pytest.mark.parametrize("name", ["..", ".", "../x", "a/b", "", "-rf"])
def test_dataset_name_never_reaches_the_cache(
    name: str, tiny_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    cache = tmp_path / "cache"
    (cache / "extracted" / "ml-latest-small").mkdir(parents=True)
    (cache / "extracted" / "ml-latest-small" / "keep.csv").write_text("x")
    (cache / "ml-25m.zip").write_bytes(b"zip")
    monkeypatch.setenv("REELGRAPH_CACHE", str(cache))
    before = listing(tmp_path)
    zip_source = shutil.make_archive(str(tmp_path / "src"), "zip", tiny_dir)
    err = refused(
        ["ingest", f"--dataset={name}", "--source", zip_source, "--warehouse", str(tmp_path / "w")],
        capsys,
    )
    assert "--dataset" in err
    Path(zip_source).unlink()
    assert listing(tmp_path) == before
    with pytest.raises(ReelgraphError, match="--dataset"):
        acquire(name, source=tiny_dir, cache_dir=cache)


# 3 -------------------------------------------------------------------- header-only ratings


def test_header_only_ratings_is_refused(warehouse: Path, tiny_dir: Path, tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(tiny_dir, src)
    (src / "ratings.csv").write_text("userId,movieId,rating,timestamp\n")
    before = _raw_counts(warehouse)
    with pytest.raises(IngestError, match="no valid rows") as info:
        ingest(acquire("tiny", source=src, cache_dir=tmp_path / "c2"), warehouse)
    assert len(str(info.value).splitlines()) == 1
    assert _raw_counts(warehouse) == before
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("SELECT status FROM ops.ingests ORDER BY ingest_id").fetchall()[-1] == (
            "failed",
        )


def _raw_counts(wh: Path) -> dict:
    with duckdb.connect(str(wh), read_only=True) as con:
        return {
            t: con.execute(f"SELECT count(*), sum(hash(x)) FROM raw.{t} AS x").fetchall()[0]
            for t in ("movies", "ratings", "tags", "links")
        }


# 4 --------------------------------------------------- a second dataset in one warehouse


def test_other_dataset_never_changes_published_runs(
    pipeline_run: dict, tiny_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wh = tmp_path / "w.duckdb"
    shutil.copy(pipeline_run["warehouse"], wh)
    before = digest(wh)
    err = refused(
        ["ingest", "--dataset", "other", "--source", str(tiny_dir), "--warehouse", str(wh)], capsys
    )
    assert "published run(s) of tiny" in err and "--warehouse" in err
    assert digest(wh) == before
    with pytest.raises(IngestError, match="published run"):
        ingest(acquire("other", source=tiny_dir, cache_dir=tmp_path / "c"), wh)


# 5 ------------------------------------------------------------------------ non-UTF-8 bytes


def test_non_utf8_bytes_refuse_the_row_not_the_file(tmp_path: Path) -> None:
    movies = "movieId,title,genres\n" + "".join(
        f"{i},Film {i} (1999),Drama\n" for i in range(1, 200)
    )
    ratings = "userId,movieId,rating,timestamp\n" + "".join(
        f"{u},{m},4.0,1000000000\n" for u in range(1, 30) for m in range(1, 20)
    )
    src = write_dataset(tmp_path / "src", movies=movies, ratings=ratings)
    with open(src / "movies.csv", "ab") as fh:
        fh.write(b"500,Caf\xe9 (1999),Drama\n")
    with open(src / "ratings.csv", "ab") as fh:
        fh.write(b"7\xff,1,4.0,1000000000\n")
    wh = tmp_path / "w.duckdb"
    result = ingest(
        acquire("u8", source=src, cache_dir=tmp_path / "c"), wh, max_reject_fraction=0.1
    )
    assert result.rejected_rows == {"movies.csv": 1, "ratings.csv": 1}
    with duckdb.connect(str(wh), read_only=True) as con:
        reasons = dict(con.execute("SELECT file, reason FROM ops.ingest_rejects").fetchall())
    assert reasons == {
        "movies.csv": "title is not valid UTF-8",
        "ratings.csv": "userId is not a positive integer",
    }


def test_a_file_of_garbage_fails_in_one_short_line_with_a_failed_record(tmp_path: Path) -> None:
    src = write_dataset(tmp_path / "src", movies="movieId,title,genres\n1,A (1999),Drama\n")
    (src / "ratings.csv").write_bytes(
        b"userId,movieId,rating,timestamp\n" + bytes(range(256)) * 400
    )
    wh = tmp_path / "w.duckdb"
    with pytest.raises(IngestError) as info:
        ingest(acquire("junk", source=src, cache_dir=tmp_path / "c"), wh)
    assert len(str(info.value).splitlines()) == 1 and len(str(info.value)) < 400
    with duckdb.connect(str(wh), read_only=True) as con:
        assert con.execute("SELECT status FROM ops.ingests").fetchall() == [("failed",)]


# 6 and 9 ------------------------------------------- parameters refused before any work


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--hidden", "0"], "--hidden"),
        (["--k", "0"], "--k"),
        (["--epochs", "0"], "--epochs"),
        (["--seed", "-1"], "--seed"),
        (["--device", "bogus"], "--device"),
        (["--device", "cuda"] if not _has_cuda() else ["--device", "cuda:99"], "--device"),
        (["--outputs", "/proc/reelgraph-outputs"], "--outputs"),
        (["--warehouse", "/proc/reelgraph.duckdb"], "--warehouse"),
        (["--n-users", "0"], "--n-users"),
        (["--split", "user_subgraph"], "--n-users"),
        (["--source", "/no/such/folder"], "--source"),
    ],
)
def test_run_parameters_are_checked_before_any_work(
    args: list[str], flag: str, tiny_dir: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    monkeypatch.setenv("REELGRAPH_CACHE", str(tmp_path / "cache"))
    base = tiny_run(tiny_dir, tmp_path / "w.duckdb", tmp_path / "out")
    err = refused(base + args, capsys)
    assert flag in err
    assert listing(tmp_path) == []  # no warehouse, no outputs, no cache


def test_model_settings_from_a_config_are_checked_up_front(
    tmp_path: Path, tiny_dir: Path, capsys
) -> None:
    cfg = tmp_path / "c.json"
    cfg.write_text('{"graphsage": {"model": {"dropout": 1.5}, "train": {}}}')
    err = refused(
        [
            "run",
            "--dataset",
            "tiny",
            "--source",
            str(tiny_dir),
            "--config",
            str(cfg),
            "--warehouse",
            str(tmp_path / "w.duckdb"),
            "--outputs",
            str(tmp_path / "o"),
        ],
        capsys,
    )
    assert "dropout" in err and not (tmp_path / "w.duckdb").exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["sql", "--limit", "-1", "SELECT 1"],
        ["recommend", "--user", "1", "--k", "0"],
        ["similar", "--movie", "1", "--k", "0"],
        ["recommend", "--user", "1", "--years", "2010:1990"],
    ],
)
def test_reader_parameters(argv: list[str], warehouse: Path, capsys) -> None:
    before = digest(warehouse)
    refused([*argv, "--warehouse", str(warehouse)], capsys)
    assert digest(warehouse) == before


def test_argument_mistakes_are_one_line_and_exit_1(capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(["run", "--k", "many"])
    assert info.value.code == 1
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_a_full_disk_is_one_line(tmp_path: Path, capsys, monkeypatch) -> None:
    import reelgraph.synthetic.generator

    def full(*a, **k):  # noqa: ANN002, ANN003, ANN202
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "ratings.csv"))

    monkeypatch.setattr(reelgraph.synthetic.generator, "generate", full)
    err = refused(["generate", "--preset", "tiny", "--out", str(tmp_path)], capsys)
    assert "No space left on device" in err and "ratings.csv" in err


@pytest.mark.parametrize(
    ("flag", "value", "says"),
    [("--min-score", "nan", "not a number"), ("--genres", "", "names no genre")],
)
def test_recommend_refuses_a_filter_that_means_nothing(
    flag: str, value: str, says: str, tmp_path: Path, capsys
) -> None:
    err = refused(
        ["recommend", "--user", "1", flag, value, "--warehouse", str(tmp_path / "w")], capsys
    )
    assert says in err


def test_generate_never_overwrites_release_files_without_force(tmp_path: Path, capsys) -> None:
    (tmp_path / "ratings.csv").write_text("someone's export\n")
    err = refused(["generate", "--preset", "tiny", "--out", str(tmp_path)], capsys)
    assert "already holds ratings.csv" in err and "--force" in err
    assert (tmp_path / "ratings.csv").read_text() == "someone's export\n"  # nothing changed
    assert not (tmp_path / "movies.csv").exists()
    assert main(["generate", "--preset", "tiny", "--out", str(tmp_path), "--force"]) == 0
    assert (tmp_path / "ratings.csv").read_text().startswith("userId,movieId,rating,timestamp")


# 7 ------------------------------------------------------------------------------- archives


def test_zip_bomb_is_refused_before_extracting(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("ml/movies.csv", "movieId,title,genres\n")
        zf.writestr("ml/ratings.csv", "userId,movieId,rating,timestamp\n" + "0" * 50_000_000)
    assert bomb.stat().st_size < 200_000
    with pytest.raises(DatasetError, match="zip bomb"):
        extract_zip(bomb, tmp_path / "out")
    with pytest.raises(DatasetError, match="MB limit"):
        extract_zip(bomb, tmp_path / "out", ZipLimits(max_bytes=1 << 20, max_ratio=1e9))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bomb.zip"]


def test_only_the_release_files_are_extracted(tiny_dir: Path, tmp_path: Path) -> None:
    z = tmp_path / "extra.zip"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in tiny_dir.iterdir():
            zf.write(f, f"ml/{f.name}")
        zf.writestr("ml/README.txt", "hello")
        zf.writestr("ml/deep/more/ratings.csv", "nope")
        zf.writestr("payload.bin", os.urandom(1000))
    out = extract_zip(z, tmp_path / "out")
    assert sorted(p.name for p in (out / "ml").iterdir()) == sorted(
        p.name for p in tiny_dir.iterdir()
    )
    assert not (out / "payload.bin").exists()


def test_zip_limits_come_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("REELGRAPH_MAX_UNZIPPED_MB", "10")
    monkeypatch.setenv("REELGRAPH_MAX_ZIP_RATIO", "20")
    assert ZipLimits.from_env() == ZipLimits(10 << 20, 20.0)
    monkeypatch.setenv("REELGRAPH_MAX_ZIP_RATIO", "-3")
    with pytest.raises(DatasetError, match="REELGRAPH_MAX_ZIP_RATIO"):
        ZipLimits.from_env()


# 10 ---------------------------------------------------------------------- ingest rough edges


def test_ingest_rough_edges(tmp_path: Path) -> None:
    movies = (
        ' movieId , title ,genres\n1,Plain (1999),Drama\n2,"Two\nLines (2000)",Comedy\n'
        + "".join(f"{i},Film {i} (2001),Drama\n" for i in range(3, 60))
    )
    ratings = "userId,movieId,rating,timestamp\n" + "".join(
        f"{u},{m},4.0,1000000000\n" for u in range(1, 20) for m in range(3, 40)
    )
    ratings += "50,1, 4.0,1000000000\n51,1,4.0 ,1000000000\n52,1,4.0,1000000000,extra\n"
    ratings += "53,1,fine?,1000000000\n"
    src = write_dataset(tmp_path / "src", movies=movies, ratings=ratings)
    wh = tmp_path / "w.duckdb"
    ingest(acquire("edges", source=src, cache_dir=tmp_path / "c"), wh, max_reject_fraction=0.1)
    n_lines = ratings.count("\n")
    with duckdb.connect(str(wh), read_only=True) as con:
        users = {
            u
            for (u,) in con.execute("SELECT user_id FROM raw.ratings WHERE movie_id = 1").fetchall()
        }
        rejects = con.execute(
            "SELECT file, line, reason FROM ops.ingest_rejects ORDER BY line"
        ).fetchall()
        two = con.execute("SELECT title FROM raw.movies WHERE movie_id = 2").fetchall()
    assert users == {50, 51}  # ' 4.0' and '4.0 ' alike
    assert rejects == [
        ("ratings.csv", n_lines - 1, "more fields than the 4 of the header"),
        ("ratings.csv", n_lines, "rating is not one of 0.5, 1.0, ..., 5.0"),
    ]
    assert two == [("Two\nLines (2000)",)]


def test_reject_lines_count_physical_lines_after_a_multiline_title(tmp_path: Path) -> None:
    movies = 'movieId,title,genres\n1,"A\nB\nC (1999)",Drama\n' + "".join(
        f"{i},Film {i} (2001),Drama\n" for i in range(2, 60)
    )
    movies += "0,Bad id (2001),Drama\n"
    ratings = "userId,movieId,rating,timestamp\n1,1,4.0,1000000000\n"
    src = write_dataset(tmp_path / "src", movies=movies, ratings=ratings)
    wh = tmp_path / "w.duckdb"
    ingest(acquire("lines", source=src, cache_dir=tmp_path / "c"), wh, max_reject_fraction=0.1)
    with duckdb.connect(str(wh), read_only=True) as con:
        line = con.execute("SELECT line FROM ops.ingest_rejects").fetchall()
    assert line == [(movies.count("\n"),)]  # the physical line, not the record number


# 11 ------------------------------------------------------------ leftovers of killed runs


def test_publish_removes_what_runs_that_never_published_left(
    tiny_env: dict, tiny_model: Path, tmp_path: Path
) -> None:
    from reelgraph.core import runs
    from reelgraph.graph.ratings import RatingGraph
    from reelgraph.serve.publish import RunRecord, publish_run

    wh = tmp_path / "w.duckdb"
    shutil.copy(tiny_env["warehouse"], wh)
    outputs = tmp_path / "outputs" / "runs"
    killed, working, foreign = outputs / "killed", outputs / "working", outputs / "foreign"
    for d, owner in ((killed, wh), (working, wh), (foreign, tmp_path / "elsewhere.duckdb")):
        with runs.in_progress(d, owner):
            (d / "model.pt").write_text("x")
    with duckdb.connect(str(wh)) as con:
        con.execute("CREATE SCHEMA IF NOT EXISTS marts")
        con.execute(
            "CREATE TABLE IF NOT EXISTS marts.metrics (run_id VARCHAR, model VARCHAR, split VARCHAR, "
            "metric VARCHAR, k INTEGER, value DOUBLE)"
        )
        con.execute("INSERT INTO marts.metrics VALUES ('killed', 'mf', 'test', 'rmse', NULL, 1.0)")
        con.execute("INSERT INTO marts.metrics VALUES ('working', 'mf', 'test', 'rmse', NULL, 1.0)")
    holder = _hold_lock(working / runs.RUN_LOCK)
    try:
        rec = RunRecord(
            "r1",
            "tiny",
            tiny_env["checksum"],
            tiny_env["split"].split_id,
            {},
            0,
            "cpu",
            {},
            __import__("datetime").datetime(2026, 1, 1),
        )
        publish_run(
            wh,
            rec,
            RatingGraph.load(tiny_env["graph_path"]),
            tiny_model,
            outputs / "r1",
            k=5,
            device="cpu",
        )
    finally:
        holder.kill()
        holder.wait()
    assert sorted(p.name for p in outputs.iterdir()) == ["foreign", "r1", "working"]
    with duckdb.connect(str(wh), read_only=True) as con:
        left = {r for (r,) in con.execute("SELECT DISTINCT run_id FROM marts.metrics").fetchall()}
    assert left == {"working"}


def _hold_lock(lock: Path) -> subprocess.Popen:
    """Another process holding a flock, as a working run does."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import fcntl,sys,time; f=open({str(lock)!r},'a'); fcntl.flock(f, fcntl.LOCK_EX); print('held', flush=True); time.sleep(600)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_the_model_card_is_written_before_the_run_is_published(
    pipeline_run: dict, tmp_path: Path, monkeypatch
) -> None:
    """A kill right after the publish commit used to leave a published run without its card."""
    import reelgraph.serve.publish
    from flows.publish_flow import publish_flow

    r = pipeline_run["result"]
    wh = tmp_path / "w.duckdb"
    shutil.copy(pipeline_run["warehouse"], wh)
    run_dir = Path(r["publish"]["run_dir"])
    outputs = tmp_path / "outputs"
    shutil.copytree(run_dir, outputs / "runs" / "again")
    for name in ("model_card.md",):
        (outputs / "runs" / "again" / name).unlink()

    def killed(*a, **k):  # noqa: ANN002, ANN003, ANN202
        raise KeyboardInterrupt("killed at the commit")

    monkeypatch.setattr(reelgraph.serve.publish, "commit_run", killed)
    from prefect.testing.utilities import prefect_test_harness

    record = republish_record("again", r["split"]["split_id"])
    with (
        prefect_test_harness(server_startup_timeout=120),
        pytest.raises(BaseException, match="killed"),
    ):
        publish_flow(
            record=record,
            graph_path=r["refit"]["graph_path"],
            model_path=str(run_dir / "model.pt"),
            split=r["split"],
            train=r["train"],
            served=r["refit"],
            warehouse=str(wh),
            outputs=str(outputs),
            k=5,
            retention=5,
            device="cpu",
        )
    assert (outputs / "runs" / "again" / "model_card.md").is_file()


# 12 --------------------------------------------------------------- one checkpoint, one writer


def test_a_checkpoint_folder_has_one_writer(tmp_path: Path) -> None:
    from reelgraph.core import runs

    shared, private = tmp_path / "ckpt", tmp_path / "ckpt-run2"
    shared.mkdir()
    holder = _hold_lock(shared / runs.FOLDER_LOCK)
    try:
        with runs.own_folder(shared, private) as got:
            assert got == private
    finally:
        holder.kill()
        holder.wait()
    with runs.own_folder(shared, private) as got:
        assert got == shared


# 13 -------------------------------------------------------------------------------- SIGTERM


@pytest.fixture()
def flaky_mirror():  # noqa: ANN201
    """A mirror that answers every request with 503: downloads retry with backoff."""
    import http.server
    import threading

    class Busy(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the handler's API
            self.send_error(503, "busy")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Busy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_offline_is_said_at_once_before_any_work(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("REELGRAPH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("REELGRAPH_MIRROR", "http://127.0.0.1:9")  # nothing listens there
    t = time.monotonic()
    err = refused(
        ["run", "--warehouse", str(tmp_path / "w.duckdb"), "--outputs", str(tmp_path / "o")], capsys
    )
    assert time.monotonic() - t < 20
    assert "make run SOURCE=DIR_OR_ZIP" in err and "refused" in err
    assert listing(tmp_path) == []


@pytest.mark.parametrize("stage", ["download retry", "training"])
def test_sigterm_ends_a_run_within_10_s_keeping_the_last_good_state(
    stage: str, tiny_dir: Path, tmp_path: Path, flaky_mirror: str
) -> None:
    wh = tmp_path / "w.duckdb"
    env = {
        **os.environ,
        "REELGRAPH_CACHE": str(tmp_path / "cache"),
        "REELGRAPH_MIRROR": flaky_mirror,
        "PYTHONUNBUFFERED": "1",
        "PREFECT_LOGGING_LEVEL": "INFO",  # the test watches the log for the stage
    }
    if stage == "download retry":
        argv = ["ingest", "--dataset", "ml-latest-small", "--warehouse", str(wh)]
        started = "Beginning flow run"
    else:
        ingest(acquire("tiny", source=tiny_dir, cache_dir=tmp_path / "c"), wh)
        config = tmp_path / "endless.json"  # no early stop: SIGTERM lands in training
        config.write_text(
            '{"graphsage": {"model": {}, "train": {"patience": 100000, "rank_patience": 100000}}}'
        )
        argv = tiny_run(tiny_dir, wh, tmp_path / "out") + [
            "--epochs",
            "100000",
            "--device",
            "cpu",
            "--baselines",
            "popularity",
            "--no-refit",
            "--config",
            str(config),
        ]
        started = "training epoch"
    before = _raw_counts(wh) if wh.exists() else None
    proc = subprocess.Popen(
        [sys.executable, "-m", "reelgraph.cli.main", *argv],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 240
    seen = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        seen.append(line)
        if started in line or not line:
            break
    assert any(started in s for s in seen), "".join(seen[-20:])
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    t = time.monotonic()
    proc.communicate(timeout=60)
    assert time.monotonic() - t < 10, f"took {time.monotonic() - t:.1f} s after SIGTERM"
    assert proc.returncode != 0
    if before is not None:
        assert _raw_counts(wh) == before
        with duckdb.connect(str(wh), read_only=True) as con:
            assert not con.execute(
                "SELECT 1 FROM duckdb_tables() WHERE schema_name = 'ops' AND table_name = 'runs'"
            ).fetchall() or con.execute("SELECT count(*) FROM ops.runs").fetchall() == [(0,)]
