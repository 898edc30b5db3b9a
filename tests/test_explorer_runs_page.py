"""The explorer's runs page (issue 33): held runs with the gate's verdict, the diff of two runs,
and promote only when the explorer was started with --allow-promote."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from conftest import clone_run, pipeline_warehouse_copy
from fastapi.testclient import TestClient

from reelgraph.explorer.app import create_app


@pytest.fixture()
def with_held_run(pipeline_run: dict, tmp_path: Path) -> tuple[Path, str]:
    """The tiny run, and "run-held": the same rows an hour later, held by the gate."""
    wh, base = pipeline_warehouse_copy(pipeline_run, tmp_path)
    verdict = {"held": True, "against": base, "reason": "worse on ndcg@20", "k": 20,
               "tolerance": 0.02, "new": {"ndcg": 0.1, "rmse": 1.2},
               "old": {"ndcg": 0.2, "rmse": 1.0}, "ratings": 50, "users": 10}  # fmt: skip
    with duckdb.connect(str(wh)) as con:
        clone_run(
            con,
            base,
            "run-held",
            "'held' AS status, ?::JSON AS gate, finished_at + INTERVAL 1 HOUR AS finished_at, "
            "started_at + INTERVAL 1 HOUR AS started_at",
            (json.dumps(verdict),),
        )
    return wh, base


def _client(wh: Path, pipeline_run: dict, **kw: object) -> TestClient:
    return TestClient(create_app(wh, pipeline_run["outputs"], **kw), base_url="http://127.0.0.1")


def test_runs_show_held_runs_with_the_gate_and_the_diff_of_two(
    with_held_run: tuple[Path, str], pipeline_run: dict
) -> None:
    wh, base = with_held_run
    client = _client(wh, pipeline_run)
    runs = {r["run_id"]: r for r in client.get("/api/runs").json()}
    assert runs["run-held"]["status"] == "held" and not runs["run-held"]["latest"]
    assert runs["run-held"]["gate"]["new"]["ndcg"] == 0.1 and runs[base]["latest"]
    diff = client.get("/api/diff", params={"a": base, "b": "run-held"}).json()
    assert diff["run_a"] == base and diff["run_b"] == "run-held"
    assert diff["lists"]["share_changed"] == 0.0 and diff["lists"]["mean_overlap"] == 1.0
    # b alone: against the run before it
    assert client.get("/api/diff", params={"b": "run-held"}).json()["run_a"] == base
    assert client.get("/api/diff", params={"a": "nope", "b": "run-held"}).status_code == 404
    assert client.get("/api/settings").json() == {"allow_promote": False}
    page = client.get("/").text
    assert 'id="runs-page"' in page and 'id="diff-go"' in page


def test_promote_only_with_allow_promote(
    with_held_run: tuple[Path, str], pipeline_run: dict
) -> None:
    wh, base = with_held_run
    read_only = _client(wh, pipeline_run)
    refused = read_only.post("/api/runs/run-held/promote")
    assert refused.status_code == 403 and "--allow-promote" in refused.json()["detail"]
    client = _client(wh, pipeline_run, allow_promote=True)
    assert client.get("/api/settings").json() == {"allow_promote": True}
    unknown = client.post("/api/runs/nope/promote")
    assert unknown.status_code == 404 and "unknown run 'nope'" in unknown.json()["detail"]
    done = client.post("/api/runs/run-held/promote")
    assert done.status_code == 200, done.text
    runs = {r["run_id"]: r for r in client.get("/api/runs").json()}
    assert runs["run-held"]["latest"] and runs["run-held"]["status"] == "published"
    assert not runs[base]["latest"]
