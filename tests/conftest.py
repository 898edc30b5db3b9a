from __future__ import annotations

import os
import shutil
import socket
import urllib.request
from pathlib import Path

import pytest

# Before anything imports Prefect: telemetry off, and no state in the home directory.
os.environ["DO_NOT_TRACK"] = "1"
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
_STATE = Path(__file__).resolve().parent.parent / ".state" / "pytest"
os.environ.setdefault("PREFECT_HOME", str(_STATE / "prefect"))
Path(os.environ["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.pop("REELGRAPH_WAREHOUSE", None)
os.environ.pop("REELGRAPH_SOURCE", None)


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny synthetic preset, generated once per test session."""
    from reelgraph.synthetic.generator import generate

    return generate("tiny", tmp_path_factory.mktemp("tiny"), seed=0).directory


def write_dataset(folder: Path, **files: str) -> Path:
    """Write hand-made CSVs: write_dataset(d, movies="movieId,title,genres\\n1,A (1999),Drama\\n")."""
    folder.mkdir(parents=True, exist_ok=True)
    for stem, text in files.items():
        name = stem.replace("_", "-") + ".csv"
        (folder / name).write_text(text)
    return folder


@pytest.fixture(scope="session")
def tiny_env(tiny_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The tiny preset ingested, split (random 0.8/0.1/0.1, seed 0) and featurised; its graph."""
    from reelgraph.features.graph import build_graph
    from reelgraph.features.split import SplitParams, make_split
    from reelgraph.features.tables import build_features
    from reelgraph.ingest.datasets import acquire
    from reelgraph.ingest.load import ingest

    work = tmp_path_factory.mktemp("tiny-wh")
    wh = work / "w.duckdb"
    manifest = acquire("tiny", source=tiny_dir, cache_dir=work / "cache")
    ingest(manifest, wh)
    split = make_split(wh, SplitParams(seed=0))
    build_features(wh, split.split_id)
    graph = build_graph(wh, split.split_id)
    graph_path = work / "graph.pt"
    graph.save(graph_path)
    return {
        "warehouse": wh,
        "split": split,
        "graph": graph,
        "graph_path": graph_path,
        "checksum": manifest.checksum,
        "work": work,
    }


@pytest.fixture(scope="session")
def tiny_graph(tiny_env: dict):
    return tiny_env["graph"]


@pytest.fixture(scope="session")
def tiny_model(tiny_env: dict) -> Path:
    """A GraphSAGE trained briefly on the tiny graph."""
    from reelgraph.train.config import TrainConfig
    from reelgraph.train.fit import train

    cfg = TrainConfig(epochs=15, lr=0.01, patience=100, log_every=100)
    return Path(train(tiny_env["graph"], tiny_env["work"] / "model", cfg).model_path)


def run_tiny_flow(flow, tiny_dir: Path, work: Path, **params: object) -> object:  # noqa: ANN001
    """A flow on the tiny preset under Prefect's test harness, writing only under `work`."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        return flow(
            dataset="tiny",
            source=str(tiny_dir),
            warehouse=str(work / "w.duckdb"),
            outputs=str(work / "outputs"),
            **params,
        )


@pytest.fixture(scope="session")
def pipeline_run(tiny_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The whole pipeline on the tiny preset under Prefect's test harness (once per session)."""
    from flows.pipeline_flow import pipeline_flow

    work = tmp_path_factory.mktemp("pipeline")
    # Rates that decay on a plateau, so the warm refit's going on at the selected rates shows.
    train = {"epochs": 20, "lr_decay_after": 1, "rank_lr_decay_after": 1}
    result = run_tiny_flow(pipeline_flow, tiny_dir, work, train=train, k=5, device="cpu")
    return {"result": result, "warehouse": work / "w.duckdb", "outputs": work / "outputs"}


def free_port() -> int:
    """A loopback port nothing listens on now (for a server a test starts)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prefect_answers(port: int) -> bool:
    """Whether a Prefect server answers its health check on the port."""
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2)
        return True
    except OSError:
        return False


MART_TABLES = (
    "recommendations",
    "least_relevant",
    "user_embeddings",
    "movie_embeddings",
    "metrics",
)


def pipeline_warehouse_copy(pipeline_run: dict, folder: Path) -> tuple[Path, str]:
    """A copy of the pipeline fixture's warehouse to change, and the id of its run."""
    wh = folder / "w.duckdb"
    shutil.copy(pipeline_run["warehouse"], wh)
    return wh, pipeline_run["result"]["run_id"]


def clone_run(
    con, base: str, run_id: str, replace: str = "", params: tuple = (), marts: bool = True
) -> None:  # noqa: ANN001 - a DuckDB connection
    """Run `base` again as `run_id`: its ops.runs row (with `replace`, more `expr AS column`
    items of the SELECT * REPLACE, whose placeholders take `params`) and, with marts, its rows
    in every mart table."""
    more = f", {replace}" if replace else ""
    con.execute(
        f"INSERT INTO ops.runs SELECT * REPLACE (? AS run_id{more}) FROM ops.runs WHERE run_id = ?",
        [run_id, *params, base],
    )
    for table in MART_TABLES if marts else ():
        con.execute(
            f"INSERT INTO marts.{table} SELECT * REPLACE (? AS run_id) "
            f"FROM marts.{table} WHERE run_id = ?",
            [run_id, base],
        )


def republish_record(run_id: str, split_id: str) -> dict:
    """The run record publish_flow takes, for publishing the pipeline fixture's model again
    under another run id."""
    return {
        "run_id": run_id,
        "dataset": "tiny",
        "data_checksum": "x",
        "split_id": split_id,
        "params": {},
        "seed": 0,
        "device": "cpu",
        "timings": {},
        "started_at": "2026-01-01T00:00:00",
    }


def outcome(history: list[dict]) -> list[dict]:
    """A training history without its wall-clock times (which never repeat)."""
    return [{k: v for k, v in row.items() if k != "seconds"} for row in history]


def assert_resume_repeats(graph, folder: Path, cfg, crash_after: int, model_cfg=None):  # noqa: ANN001, ANN201
    """Train whole; train again, killed after epoch crash_after, and resume: the resumed run
    repeats the whole one exactly. Returns the whole run's result."""
    import pytest

    from reelgraph.train.fit import train

    whole = train(graph, folder / "whole", cfg, model_cfg)
    with pytest.raises(KeyboardInterrupt):
        train(graph, folder / "crash", cfg, model_cfg, stop_after_epoch=crash_after)
    resumed = train(graph, folder / "crash", cfg, model_cfg)
    assert resumed.resumed_from_epoch == crash_after
    assert outcome(resumed.history) == outcome(whole.history)
    assert resumed.metrics == whole.metrics
    return whole


def saved_without(model_path: str | Path, setting: str, folder: Path) -> tuple[Path, dict]:
    """A copy of a model file as written before `setting` existed (its config lacks it): the
    copy's path and its contents."""
    import torch

    saved = torch.load(model_path, weights_only=True)
    del saved["config"][setting]
    torch.save(saved, folder / "old.pt")
    return folder / "old.pt", saved
