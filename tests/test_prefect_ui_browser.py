"""The `run-diff` artifact as people see it in the Prefect UI (issue 33): a real Prefect server
with its UI on loopback, two tiny pipeline runs against it, the artifact's page in headless
Chromium, saved as .state/screenshots/prefect_run_diff.png (docs/scheduled-runs.md shows it)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import free_port, prefect_answers
from headless import SCREENSHOTS, chromium, needs_chromium

pytestmark = [needs_chromium, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[1]


# The two runs and the artifact lookup run in their own process: Prefect's log and event
# workers are per-process singletons bound to this server, which is gone after the test (a later
# test harness in the same process would wait on them forever when it drains them).
_RUNS = """
import json, sys
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from flows.pipeline_flow import pipeline_flow
run = json.loads(sys.argv[1])
pipeline_flow(**run, train={"epochs": 4})
second = pipeline_flow(**run, train={"epochs": 6}, seed=1, gate=False)
with get_client(sync_client=True) as client:
    found = client.read_artifacts(
        artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["run-diff"]))
    )
(artifact,) = [a for a in found if second["run_id"] in a.data and "->" in a.data]
print(json.dumps({"run_id": second["run_id"], "artifact_id": str(artifact.id)}))
"""


def test_the_run_diff_artifact_in_the_prefect_ui(tiny_dir: Path, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        PREFECT_HOME=str(tmp_path / "prefect"),
        DO_NOT_TRACK="1",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_UI_API_URL=f"{url}/api",  # the UI's default is port 4200's
    )
    server = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
         "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    browser = None
    try:
        deadline = time.monotonic() + 120
        while not prefect_answers(port):
            assert server.poll() is None and time.monotonic() < deadline, "no Prefect server"
            time.sleep(0.5)
        run = dict(
            dataset="tiny", source=str(tiny_dir), warehouse=str(tmp_path / "w.duckdb"),
            outputs=str(tmp_path / "outputs"), k=5, device="cpu", refit=False,
            baselines=["popularity", "ease"],
        )  # fmt: skip
        done = subprocess.run(
            [sys.executable, "-c", _RUNS, json.dumps(run)],
            env={**env, "PREFECT_API_URL": f"{url}/api"},
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        second = json.loads(done.stdout.strip().splitlines()[-1])
        browser = chromium(tmp_path / "chrome", size="1300,1100")
        browser.get(f"{url}/artifacts/artifact/{second['artifact_id']}")
        try:
            WebDriverWait(browser, 60).until(
                lambda b: "graphsage" in b.find_element(By.TAG_NAME, "body").text
            )
        finally:  # what the page showed, also when it never rendered the artifact
            text = browser.find_element(By.TAG_NAME, "body").text
            browser.save_screenshot(str(SCREENSHOTS / "prefect_run_diff.png"))
        assert "run-diff" in text and second["run_id"] in text and "changed" in text
    finally:
        if browser is not None:
            browser.quit()
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
