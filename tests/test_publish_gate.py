"""The publish gate (issue 33): which ratings it compares on, how it judges, and what a held
run, promote, retention and the pipeline do with its verdict."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pytest
import torch
from conftest import clone_run, pipeline_warehouse_copy

from reelgraph.evaluate import gate
from reelgraph.evaluate.baselines import GraphSAGEAdapter
from reelgraph.evaluate.protocol import evaluate
from reelgraph.graph.ratings import RatingGraph
from reelgraph.model.scoring import Scorer
from reelgraph.serve.publish import RunRecord, promote, publish_run

K = 5


def _graph(users: list[int], movies: list[int], parts: dict[str, list[tuple]]) -> RatingGraph:
    """A hand-made graph in MovieLens ids: parts hold (user id, movie id, rating)."""
    u_index = {u: i for i, u in enumerate(users)}
    m_index = {m: i for i, m in enumerate(movies)}
    edges = {
        part: torch.tensor(
            [
                [u_index[u] for u, _, _ in rows],
                [m_index[m] for _, m, _ in rows],
                [r for *_, r in rows],
            ],
            dtype=torch.float32,
        ).reshape(3, -1)
        for part, rows in parts.items()
    }
    return RatingGraph(
        torch.tensor(users),
        torch.tensor(movies),
        torch.zeros(len(users), 1),
        torch.zeros(len(movies), 1),
        edges,
        ["f"],
        ["f"],
    )


def test_the_held_out_set_leaves_out_every_rating_a_compared_model_trained_on() -> None:
    """A rating planted in the old run's train part (and one in its validation part) that the
    new run holds out for its test is not compared on; nor are a user or a movie the old graph
    does not know (the old model could not score them)."""
    old = _graph(
        [1, 2],
        [10, 20, 30],
        {
            "train": [(1, 10, 4.0), (2, 20, 3.0)],
            "val": [(2, 30, 5.0)],
            "test": [(1, 20, 4.5)],
        },
    )
    new = _graph(
        [2, 1, 3],  # another index order: pairs are matched by MovieLens ids
        [30, 20, 10, 40],
        {
            "train": [(2, 20, 3.0)],
            "val": [],
            "test": [
                (1, 10, 4.0),  # planted: the old model trained on it
                (2, 30, 5.0),  # the old model selected on it
                (1, 20, 4.5),  # held out by both
                (1, 30, 2.0),  # new since the old run
                (3, 10, 5.0),  # a user the old graph lacks
                (2, 40, 4.0),  # a movie the old graph lacks
            ],
        },
    )
    u, m, r = gate.held_out_pairs(new, old)
    assert sorted(zip(u.tolist(), m.tolist(), r.tolist(), strict=True)) == [
        (1, 20, 4.5),
        (1, 30, 2.0),
    ]
    # In each graph's own indices, H is the same ratings.
    for g in (new, old):
        part = gate._with_part(g, u, m, r).edges[gate.GATE_PART]
        ids = sorted(
            zip(
                g.user_ids[part[0].long()].tolist(),
                g.movie_ids[part[1].long()].tolist(),
                strict=True,
            )
        )
        assert ids == [(1, 20), (1, 30)]


def test_held_out_users_are_sampled_past_the_cap() -> None:
    graph = _graph(
        list(range(1, 11)),
        [10, 20],
        {
            "train": [(u, 10, 4.0) for u in range(1, 11)],
            "test": [(u, 20, 5.0) for u in range(1, 11)],
        },
    )
    u, *_ = gate.held_out_pairs(
        graph,
        dataclasses.replace(graph, edges={"train": graph.edges["train"]}),
        max_users=4,
        seed=1,
    )
    assert len(set(u.tolist())) == 4
    again, *_ = gate.held_out_pairs(graph, graph, max_users=4, seed=1)
    assert np.array_equal(np.sort(u), np.sort(again))


def test_membership_by_sorting_agrees_with_numpy_isin() -> None:
    rng = np.random.default_rng(0)
    pool = rng.integers(0, 1 << 40, 5_000)
    values = np.concatenate([rng.choice(pool, 300), rng.integers(0, 1 << 40, 300), pool[:3]])
    assert np.array_equal(gate._member(values, pool), np.isin(values, pool))
    assert not gate._member(values, pool[:0]).any()


def test_judge_holds_past_the_relative_tolerance_only() -> None:
    old = gate.Figures(ndcg=0.20, rmse=0.90)
    assert gate.judge(gate.Figures(0.197, 0.91), old, 0.02) == ()
    assert gate.judge(gate.Figures(0.195, 0.90), old, 0.02) == ("ndcg@20",)
    assert gate.judge(gate.Figures(0.25, 0.92), old, 0.02) == ("rmse",)
    assert gate.judge(gate.Figures(0.10, 1.20), old, 0.02) == ("ndcg@20", "rmse")
    assert gate.judge(gate.Figures(0.195, 0.90), old, 0.05) == ()


def test_a_model_against_itself_on_one_split_reads_its_test_figures(
    tiny_env: dict, tiny_model: Path
) -> None:
    """Same data, same split: H is the whole test part, and the gate's figures are the
    evaluation's test figures of that model (NDCG@20, RMSE), for both sides."""
    graph = tiny_env["graph"]
    scorer = Scorer.load(tiny_model, graph, "cpu")
    verdict = gate.compare((graph, scorer), (graph, scorer), 0.02)
    test = evaluate(GraphSAGEAdapter(scorer), graph, "test", (20,)).metrics
    assert verdict is not None and not verdict.held and verdict.worse == ()
    assert verdict.ratings == graph.edges["test"].shape[1]
    assert verdict.new == verdict.old
    assert verdict.new.ndcg == pytest.approx(test[("ndcg", 20)], abs=1e-12)
    assert verdict.new.rmse == pytest.approx(test[("rmse", None)], abs=1e-6)


# ------------------------------------------------------------------ held runs in the warehouse


def _record(env: dict, run_id: str, held: bool | None) -> RunRecord:
    return RunRecord(
        run_id=run_id,
        dataset="tiny",
        data_checksum=env["checksum"],
        split_id=env["split"].split_id,
        params={},
        seed=0,
        device="cpu",
        timings={},
        started_at=dt.datetime(2026, 1, 1),
        gate=None if held is None else {"held": held, "against": None, "reason": "test"},
    )


def _publish(env: dict, model: Path, wh: Path, run_id: str, held: bool | None, **kw):  # noqa: ANN202
    return publish_run(
        wh,
        _record(env, run_id, held),
        env["graph"],
        model,
        wh.parent / "runs" / run_id,
        k=K,
        device="cpu",
        **kw,
    )


def _warehouse_copy(env: dict, folder: Path) -> Path:
    wh = folder / "w.duckdb"
    shutil.copy(env["warehouse"], wh)
    return wh


def latest_rows_hash(wh: Path) -> str:
    """A hash of every row the *_latest views show."""
    h = hashlib.sha256()
    with duckdb.connect(str(wh), read_only=True) as con:
        for view in (
            "recommendations",
            "least_relevant",
            "user_embeddings",
            "movie_embeddings",
            "metrics",
        ):
            h.update(
                repr(
                    con.execute(f"SELECT * FROM marts.{view}_latest ORDER BY ALL").fetchall()
                ).encode()
            )
    return h.hexdigest()


def _status(wh: Path) -> dict[str, str]:
    with duckdb.connect(str(wh), read_only=True) as con:
        return dict(con.execute("SELECT run_id, status FROM ops.runs").fetchall())


def _latest(wh: Path) -> str:
    with duckdb.connect(str(wh), read_only=True) as con:
        return con.execute("SELECT run_id FROM ops.latest WHERE dataset = 'tiny'").fetchone()[0]


def test_a_held_run_keeps_its_rows_but_not_the_latest_and_promote_switches(
    tiny_env: dict, tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from reelgraph.cli.main import main

    wh = _warehouse_copy(tiny_env, tmp_path)
    _publish(tiny_env, tiny_model, wh, "run-1", None)
    before = latest_rows_hash(wh)
    _publish(tiny_env, tiny_model, wh, "run-2", True)
    assert _status(wh) == {"run-1": "published", "run-2": "held"}
    assert _latest(wh) == "run-1" and latest_rows_hash(wh) == before
    with duckdb.connect(str(wh), read_only=True) as con:
        assert (
            con.execute(
                "SELECT count(*) FROM marts.recommendations WHERE run_id = 'run-2'"
            ).fetchone()[0]
            == tiny_env["graph"].n_users * K
        )
    assert (tmp_path / "runs" / "run-2" / "recommendations.parquet").exists()

    assert main(["runs", "--warehouse", str(wh)]) == 0
    held_row = next(line for line in capsys.readouterr().out.splitlines() if "run-2" in line)
    assert {"held", "test"} <= set(held_row.split())  # its status and the gate's reason

    assert promote(wh, "run-2") == "tiny"
    assert _latest(wh) == "run-2" and _status(wh)["run-2"] == "published"
    assert latest_rows_hash(wh) != before


def test_promote_refuses_unknown_and_pruned_runs_in_one_line(
    tiny_env: dict, tiny_model: Path, tmp_path: Path
) -> None:
    from reelgraph.core.errors import ReadError

    wh = _warehouse_copy(tiny_env, tmp_path)
    with pytest.raises(ReadError, match="unknown run 'nope'"):
        promote(wh, "nope")
    for i in (1, 2):
        _publish(tiny_env, tiny_model, wh, f"run-{i}", None, retention=1)
    with pytest.raises(ReadError, match="run 'run-1' is pruned"):
        promote(wh, "run-1")
    assert _latest(wh) == "run-2"


def test_retention_never_prunes_the_latest_nor_the_newest_held_run(
    tiny_env: dict, tiny_model: Path, tmp_path: Path
) -> None:
    wh = _warehouse_copy(tiny_env, tmp_path)
    for run_id, held in (("run-1", None), ("run-2", True), ("run-3", True)):
        _publish(tiny_env, tiny_model, wh, run_id, held, retention=1)
    assert _status(wh) == {"run-1": "published", "run-2": "pruned", "run-3": "held"}
    _publish(tiny_env, tiny_model, wh, "run-4", False, retention=1)
    assert _status(wh) == {
        "run-1": "pruned",
        "run-2": "pruned",
        "run-3": "held",
        "run-4": "published",
    }
    assert not (tmp_path / "runs" / "run-1").exists() and (tmp_path / "runs" / "run-3").exists()


# ------------------------------------------------------------------ the pipeline with the gate


def _artifact(flow_run_id: str, key: str) -> str:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        ArtifactFilterKey,
    )

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=[key]),
                flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]),
            )
        )
    assert found, f"no {key} artifact on flow run {flow_run_id}"
    return found[0].data


@pytest.mark.slow
def test_a_worse_run_is_held_in_one_line_and_no_gate_publishes(
    pipeline_run: dict, tiny_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """The tiny pipeline's run (20 epochs) is the latest; a run of one epoch is worse, held
    (latest views unchanged, exit 0, one line with both figures), and carries `run-diff` on its
    page; the same run with --no-gate publishes."""
    from prefect.testing.utilities import prefect_test_harness

    from reelgraph.cli.main import main

    first = pipeline_run["result"]
    assert first["publish"]["gate"]["reason"] == "first run of the dataset"
    wh, _ = pipeline_warehouse_copy(pipeline_run, tmp_path)
    before = latest_rows_hash(wh)
    args = [
        "run", "--dataset", "tiny", "--source", str(tiny_dir), "--warehouse", str(wh),
        "--outputs", str(tmp_path / "outputs"), "--k", "5", "--device", "cpu", "--no-refit",
        "--baselines", "popularity", "--epochs", "1",
    ]  # fmt: skip
    with prefect_test_harness(server_startup_timeout=120):
        capsys.readouterr()
        assert main(args) == 0
        out = capsys.readouterr().out
        (held,) = [line for line in out.splitlines() if " held, not published" in line]
        run_id = held.split()[1]
        assert f"of run {first['run_id']} on " in held
        assert "NDCG@20" in held and "RMSE" in held and f"reelgraph promote {run_id}" in held
        assert _status(wh)[run_id] == "held" and latest_rows_hash(wh) == before
        with duckdb.connect(str(wh), read_only=True) as con:
            (flow_run_id,) = con.execute(
                "SELECT flow_run_id FROM ops.runs WHERE run_id = ?", [run_id]
            ).fetchone()
        diff = _artifact(flow_run_id, "run-diff")
        assert f"run `{first['run_id']}` -> run `{run_id}`" in diff and "| graphsage |" in diff
        assert "held, not published" in _artifact(flow_run_id, "pipeline-summary")

        assert main([*args, "--no-gate"]) == 0
        out = capsys.readouterr().out
        assert "gate off (--no-gate)" in out
    latest = _latest(wh)
    assert latest not in (first["run_id"], run_id) and _status(wh)[latest] == "published"
    assert latest_rows_hash(wh) != before


def test_the_gate_compares_with_the_model_a_refresh_serves(
    pipeline_run: dict, tmp_path: Path
) -> None:
    """When the latest run is a refresh, the model to beat is its base run's evaluated model;
    when that model's files are gone, there is nothing to compare with and the run publishes."""
    from reelgraph.serve.publish_gate import latest_evaluated

    wh, base = pipeline_warehouse_copy(pipeline_run, tmp_path)
    with duckdb.connect(str(wh)) as con:
        clone_run(
            con, base, "refresh-1", "? AS refresh_of, '{}'::JSON AS params", (base,), marts=False
        )
        con.execute("UPDATE ops.latest SET run_id = 'refresh-1'")
    found = latest_evaluated(wh, "tiny", "new-run")
    train = pipeline_run["result"]["train"]
    assert found is not None and found.run_id == base and found.serving == "refresh-1"
    assert (found.graph_path, found.model_path) == (train["graph_path"], train["model_path"])
    with duckdb.connect(str(wh)) as con:
        con.execute(
            "UPDATE ops.runs SET params = json_object('eval_graph_path', '/gone/graph.pt', "
            "'eval_model_path', '/gone/model.pt') WHERE run_id = ?",
            [base],
        )
    assert latest_evaluated(wh, "tiny", "new-run") is None
