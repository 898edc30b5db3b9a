"""The two Prefect blocks of docs/scheduled-runs.md, run as written: a real server on loopback,
the work pool, `prefect deploy --all`, a process worker, one pipeline run, the artifacts listed,
all stopped.

Slow (servers, workers and whole pipeline runs), but it is what a person pastes from the docs.
Only three things change from the page's text: the port (a free one), the run's parameters
(the tiny synthetic dataset into a temporary warehouse) and the virtualenv's path.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import free_port, prefect_answers
from doc_blocks import marked_block

ROOT = Path(__file__).resolve().parents[1]
DOCS_SOURCE = "--param source=../shared/data/ml-latest-small"
ARTIFACTS = (
    "run-summary",
    "model-comparison",
    "graphsage-training",
    "pipeline-summary",
    "run-diff",
)


def _stop_leftovers(prefect_home: str) -> list[str]:
    """Kill every process still running with this test's PREFECT_HOME; say what they were."""
    mark = f"PREFECT_HOME={prefect_home}".encode()
    left = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if mark not in (proc / "environ").read_bytes().split(b"\0"):
                continue
            left.append((proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()[:120])
            os.kill(int(proc.name), signal.SIGKILL)
        except (OSError, ValueError):
            continue  # gone meanwhile, or not ours to read
    return left


@pytest.fixture(scope="module")
def prefect_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One PREFECT_HOME for both blocks: the second server finds its database migrated."""
    return tmp_path_factory.mktemp("prefect-home")


def _run_block(name: str, tiny_dir: Path, tmp_path: Path, prefect_home: Path) -> str:
    port = free_port()
    script = marked_block(name)
    assert DOCS_SOURCE in script and "4200" in script and ". .venv/bin/activate" in script
    params = {
        "dataset": "tiny",
        "source": tiny_dir,
        "warehouse": tmp_path / "w.duckdb",
        "outputs": tmp_path / "outputs",
        "train": '{"epochs": 2}',  # the spec's training settings (reelgraph.pipeline.run_spec)
        "k": 5,
        "device": "cpu",
        "refit": "false",
        "baselines": '["popularity"]',  # the run's own speed is not what these tests are about
    }
    script = (
        script.replace(". .venv/bin/activate", f"export PATH={Path(sys.executable).parent}:$PATH")
        .replace("4200", str(port))
        .replace(
            DOCS_SOURCE, " ".join("--param " + shlex.quote(f"{k}={v}") for k, v in params.items())
        )
    )
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PREFECT_", "REELGRAPH_"))  # a fresh shell's environment
    }
    env["PREFECT_HOME"] = str(prefect_home)
    env["PREFECT_SERVER_UI_ENABLED"] = "false"  # the UI's static build is not needed here
    env["COLUMNS"] = "200"  # rich tables (artifact ls) print whole keys
    env["PREFECT_WORKER_QUERY_SECONDS"] = "2"  # the worker picks the run up sooner
    log = tmp_path / "block.log"
    # `set -m`: job control as in the terminal a person pastes into (a non-interactive shell
    # would start `&` jobs with SIGINT ignored, which Prefect's worker uses to stop itself).
    # Output goes to a file: a process left running must not hold a pipe open and hang here.
    try:
        with open(log, "w") as out_file:
            proc = subprocess.run(
                ["bash", "-e", "-c", "set -m\n" + script],
                cwd=ROOT,
                env=env,
                stdout=out_file,
                stderr=subprocess.STDOUT,
                timeout=900,
            )
    finally:
        subprocess.run(
            [sys.executable, "-m", "reelgraph.cli.main", "server", "down"],
            cwd=ROOT,
            env=env,
            capture_output=True,
        )
        left = _stop_leftovers(env["PREFECT_HOME"])
    out = log.read_text()
    assert proc.returncode == 0, out[-6000:]
    assert not left, f"left running after the block: {left}"
    deadline = time.monotonic() + 20
    while prefect_answers(port):  # stopped cleanly: nothing answers on the port any more
        assert time.monotonic() < deadline, f"the server on {port} still answers"
        time.sleep(0.5)
    assert list((tmp_path / "outputs" / "runs").glob("*/model_card.md"))
    return out


@pytest.mark.slow
def test_readme_one_command_block(tiny_dir: Path, tmp_path: Path, prefect_home: Path) -> None:
    out = _run_block("prefect-one-command", tiny_dir, tmp_path, prefect_home)
    assert "Completed" in out  # `--watch` reports the run's final state
    for key in ARTIFACTS:
        assert key in out, f"artifact {key} not listed:\n{out[-4000:]}"
    assert "Stopped the Prefect worker" in out and "Stopped the Prefect server" in out
    assert not list((prefect_home / "stack").glob("*.pid"))
    assert "telemetry" not in out.lower()


@pytest.mark.slow
def test_readme_by_hand_block(tiny_dir: Path, tmp_path: Path, prefect_home: Path) -> None:
    out = _run_block("prefect-by-hand", tiny_dir, tmp_path, prefect_home)
    assert "Completed" in out
    for key in ARTIFACTS:
        assert key in out, f"artifact {key} not listed:\n{out[-4000:]}"
    assert "telemetry" not in out.lower()
