"""Training across processes (torch.distributed, gloo on CPU): world size 2 trains, checkpoints
and resumes, and lands near world size 1; world size 1 is the one-process code path."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import assert_resume_repeats

from reelgraph.graph.ratings import RatingGraph
from reelgraph.train.config import TrainConfig, result_config
from reelgraph.train.distributed import Ranks
from reelgraph.train.fit import train

# The sampled-neighbourhood path (sample_above=0), as at 25m.
CFG = TrainConfig(
    epochs=16, lr=0.01, patience=100, checkpoint_every=4, log_every=100, sample_above=0
)
# World 2 vs 1 on the tiny graph: the batches split in two, in-batch negatives and sampled
# neighbourhoods drawn per rank, so not the same numbers; this close.
RMSE_TOLERANCE, NDCG_TOLERANCE = 0.03, 0.05


def test_a_batch_is_shared_out_and_one_process_is_left_alone() -> None:
    x = torch.arange(7)
    assert [Ranks(r, 2).part(x)[0].tolist() for r in (0, 1)] == [[0, 1, 2, 3], [4, 5, 6]]
    assert Ranks().part(x)[0] is x
    assert "nproc" not in result_config(TrainConfig())  # one process: the same checkpoint keys
    assert result_config(TrainConfig(nproc=2))["nproc"] == 2


def test_two_processes_train_checkpoint_resume_and_land_near_one(
    tiny_graph: RatingGraph, tmp_path: Path
) -> None:
    one = train(tiny_graph, tmp_path / "one", CFG)
    # Same ranks, same seeds: a killed run resumes to exactly the uninterrupted one.
    whole = assert_resume_repeats(
        tiny_graph, tmp_path, dataclasses.replace(CFG, nproc=2), crash_after=8
    )
    assert whole.epochs_run == one.epochs_run == CFG.epochs
    assert abs(whole.metrics["val"]["rmse"] - one.metrics["val"]["rmse"]) < RMSE_TOLERANCE
    assert whole.best_val_ndcg == pytest.approx(one.best_val_ndcg, abs=NDCG_TOLERANCE)
    assert not (tmp_path / "whole" / "graph.ranks.pt").exists()


def test_torchrun_starts_the_ranks_of_a_training(tiny_graph: RatingGraph, tmp_path: Path) -> None:
    """The multi-machine route, on one machine: torchrun's rendezvous, reelgraph.train.ddp."""
    tiny_graph.save(tmp_path / "graph.pt")
    settings = {"epochs": 3, "lr": 0.01, "device": "cpu", "sample_above": 0}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    cmd += ["-m", "reelgraph.train.ddp", "--graph", str(tmp_path / "graph.pt")]
    cmd += ["--out", str(tmp_path / "out"), "--train", json.dumps(settings)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["epochs_run"] == 3 and Path(result["model_path"]).is_file()


def test_the_pipelines_train_flow_trains_across_two_processes(
    pipeline_run: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`reelgraph run --nproc 2` as the pipeline runs it: the Prefect train task starts the
    other rank and trains as rank 0."""
    import shutil

    from prefect.testing.utilities import prefect_test_harness

    from flows.train_flow import train_flow
    from reelgraph.train import ddp as train_ddp

    started = []

    def counted(*args, **kw):  # noqa: ANN002, ANN003, ANN202
        started.append(args[2].nproc)  # (graph, out, cfg, ...)
        return real(*args, **kw)

    real = train_ddp.train_here
    monkeypatch.setattr(train_ddp, "train_here", counted)
    wh = tmp_path / "w.duckdb"
    shutil.copy(pipeline_run["warehouse"], wh)
    settings = {"epochs": 3, "lr": 0.01, "device": "cpu", "sample_above": 0, "nproc": 2}
    with prefect_test_harness(server_startup_timeout=120):
        trained = train_flow(
            pipeline_run["result"]["split"]["split_id"],
            warehouse=str(wh),
            outputs=str(tmp_path / "outputs"),
            train_params=settings,
        )
    assert started == [2]
    assert trained["epochs_run"] == 3 and Path(trained["model_path"]).is_file()
    assert 0 < trained["metrics"]["val"]["rmse"] < 2
