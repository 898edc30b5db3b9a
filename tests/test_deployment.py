"""Deploy to a real Prefect server on loopback and have a process worker run the pipeline.

Slow (a server, a worker and a whole pipeline run), but it is what a person does from the README.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PREFECT = str(Path(sys.executable).parent / "prefect")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(args: list[str], env: dict, timeout: float = 180) -> str:
    proc = subprocess.run(
        [PREFECT, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, f"prefect {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.slow
def test_deploy_run_by_worker_completes_with_artifacts(tiny_dir: Path, tmp_path: Path) -> None:
    port = _free_port()
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
        "PREFECT_SERVER_API_HOST": "127.0.0.1",
        "PREFECT_SERVER_API_PORT": str(port),
        "DO_NOT_TRACK": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "false",
        "PWD": str(ROOT),  # prefect.yaml's pull step resolves {{ $PWD }} at deploy time
    }
    logs = tmp_path / "logs"
    logs.mkdir()
    server = subprocess.Popen(
        [PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=open(logs / "server.log", "w"),
        stderr=subprocess.STDOUT,
    )
    worker = None
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                _run(["config", "view"], env, timeout=30)
                import urllib.request

                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2)
                break
            except Exception:
                assert time.monotonic() < deadline, (logs / "server.log").read_text()[-3000:]
                time.sleep(1)
        _run(["work-pool", "create", "reelgraph-process", "--type", "process"], env)
        _run(["work-pool", "set-concurrency-limit", "reelgraph-process", "1"], env)
        _run(["--no-prompt", "deploy", "--all"], env, timeout=300)
        params = {
            "dataset": "tiny",
            "source": str(tiny_dir),
            "warehouse": str(tmp_path / "w.duckdb"),
            "outputs": str(tmp_path / "outputs"),
            "epochs": 5,
            "k": 5,
            "device": "cpu",
        }
        out = _run(
            [
                "deployment",
                "run",
                "pipeline/weekly-pipeline",
                *sum((["--param", f"{k}={v}"] for k, v in params.items()), []),
            ],
            env,
        )
        flow_run_id = next(line.split()[-1] for line in out.splitlines() if "UUID" in line)
        worker = subprocess.Popen(
            [PREFECT, "worker", "start", "--pool", "reelgraph-process", "--run-once"],
            cwd=ROOT,
            env=env,
            stdout=open(logs / "worker.log", "w"),
            stderr=subprocess.STDOUT,
        )
        state, artifacts, parent = asyncio.run(
            _wait_for_run(env["PREFECT_API_URL"], flow_run_id, timeout=600)
        )
        assert state == "COMPLETED", (logs / "worker.log").read_text()[-4000:]
        assert {"run-summary", "model-comparison", "graphsage-training"} <= artifacts
        assert "pipeline-summary" in parent  # the parent run's page has its own summary
        assert list((tmp_path / "outputs" / "runs").glob("*/model_card.md"))
    finally:
        if worker is not None:
            _stop(worker)
        _stop(server)


async def _wait_for_run(
    api_url: str, flow_run_id: str, timeout: float
) -> tuple[str, set[str], set[str]]:
    """The run's final state, every artifact key, and the keys on the run itself."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.settings import PREFECT_API_URL, temporary_settings

    deadline = time.monotonic() + timeout
    # An explicit settings context: when an earlier test in this process left
    # prefect_test_harness's settings active, an environment variable alone did not win and
    # the client asked the harness's server, which answered 404 for this run.
    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        async with get_client() as client:
            while True:
                run = await client.read_flow_run(flow_run_id)
                if run.state is not None and run.state.is_final():
                    break
                assert time.monotonic() < deadline, f"flow run still {run.state}"
                await asyncio.sleep(2)
            arts = await client.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(exists_=True))
            )
            keys = {a.key for a in arts if a.key}
            own = {a.key for a in arts if a.key and str(a.flow_run_id) == str(flow_run_id)}
            return run.state.type.value, keys, own
