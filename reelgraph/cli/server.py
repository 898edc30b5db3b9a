"""`reelgraph server up | down | status`: the Prefect stack the deployments need, in one command.

`up` starts a Prefect server on loopback (or reuses the one that answers there), waits for its
health, creates the work pool with its one-run-at-a-time limit (idempotently: `--overwrite`),
deploys `prefect.yaml` and starts a process worker. `down` stops the worker and the server it
started, by the process ids it recorded, and nothing else. Each step is the Prefect command the
README's by-hand block runs, so the two cannot drift apart in what they do.

Processes run in their own sessions (a Ctrl-C in the shell that typed `up` does not reach them)
and log to files beside their pid files in `$PREFECT_HOME/stack/`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from reelgraph.core.errors import ReelgraphError

POOL = "reelgraph-process"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4200
# The first start creates and migrates Prefect's SQLite database: about a minute on 2 busy cores.
HEALTH_TIMEOUT_S = 240.0
STOP_TIMEOUT_S = 20.0
PREFECT = str(Path(sys.executable).parent / "prefect")


@dataclass(frozen=True)
class Stack:
    """Where one project's server listens and where its pid and log files live."""

    home: Path  # PREFECT_HOME
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT

    @property
    def ui_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.ui_url}/api"

    def pid_file(self, name: str) -> Path:
        return self.home / "stack" / f"{name}.pid"

    def log_file(self, name: str) -> Path:
        return self.home / "stack" / f"{name}.log"

    def env(self, root: Path) -> dict[str, str]:
        """The Prefect commands' environment (telemetry is off by then: the command line ran
        settings.configure_prefect_environment)."""
        return {
            **os.environ,
            "PREFECT_HOME": str(self.home),
            "PREFECT_API_URL": self.api_url,
            "PWD": str(root),  # prefect.yaml's pull step resolves {{ $PWD }} when deploying
        }


def healthy(stack: Stack, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"{stack.api_url}/health", timeout=timeout) as answer:
            return answer.status == 200
    except (urllib.error.URLError, OSError):
        return False


def running_pid(stack: Stack, name: str) -> int | None:
    """The recorded process id, if that process is alive and still a Prefect command (a pid
    left by a machine that rebooted may belong to someone else's process by now)."""
    path = stack.pid_file(name)
    try:
        pid = int(path.read_text())
        os.kill(pid, 0)
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
        path.unlink(missing_ok=True)
        return None
    if b"prefect" not in cmdline:
        path.unlink(missing_ok=True)
        return None
    return pid


def _start(stack: Stack, name: str, args: list[str], root: Path) -> subprocess.Popen:
    stack.pid_file(name).parent.mkdir(parents=True, exist_ok=True)
    with open(stack.log_file(name), "ab") as log:
        proc = subprocess.Popen(
            [PREFECT, *args],
            cwd=root,
            env=stack.env(root),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    stack.pid_file(name).write_text(str(proc.pid))
    return proc


def _prefect(stack: Stack, args: list[str], root: Path, timeout: float = 300) -> None:
    proc = subprocess.run(
        [PREFECT, *args],
        cwd=root,
        env=stack.env(root),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        last = (proc.stderr.strip() or proc.stdout.strip() or "no output").splitlines()[-1]
        raise ReelgraphError(f"`prefect {' '.join(args)}` failed: {last.strip()}")


def _wait_healthy(stack: Stack, started: subprocess.Popen | None, timeout: float) -> None:
    """Until the server answers; `started` is the process this command started, if any."""
    deadline = time.monotonic() + timeout
    while not healthy(stack):
        if started is not None and started.poll() is not None:
            stack.pid_file("server").unlink(missing_ok=True)
            raise ReelgraphError(
                f"the Prefect server exited with code {started.returncode} while starting "
                f"(port {stack.port} in use?); see {stack.log_file('server')}"
            )
        if time.monotonic() > deadline:
            raise ReelgraphError(
                f"the Prefect server did not answer {stack.api_url}/health within "
                f"{timeout:.0f} s; see {stack.log_file('server')}"
            )
        time.sleep(1)


def up(stack: Stack, root: Path, worker: bool = True, say: Callable[[str], None] = print) -> None:
    """Server, pool, deployments and worker; each step skipped when it is already done."""
    if running_pid(stack, "server") is not None or healthy(stack):
        _wait_healthy(stack, None, HEALTH_TIMEOUT_S)  # another `up` may have just started it
        say(f"Prefect server: {stack.ui_url} (already running)")
    else:
        server = _start(
            stack,
            "server",
            ["server", "start", "--host", stack.host, "--port", str(stack.port)],
            root,
        )
        _wait_healthy(stack, server, HEALTH_TIMEOUT_S)
        say(f"Prefect server: {stack.ui_url} (started; log {stack.log_file('server')})")
    _prefect(stack, ["work-pool", "create", POOL, "--type", "process", "--overwrite"], root)
    _prefect(stack, ["work-pool", "set-concurrency-limit", POOL, "1"], root)
    say(f"Work pool {POOL}: one flow run at a time (both deployments write the warehouse)")
    _prefect(stack, ["--no-prompt", "deploy", "--all"], root)
    say("Deployed: pipeline/weekly-pipeline, refresh/daily-refresh (prefect.yaml)")
    if worker:
        if running_pid(stack, "worker") is not None:
            say("Worker: already running")
        else:
            _start(stack, "worker", ["worker", "start", "--pool", POOL], root)
            say(f"Worker: started (log {stack.log_file('worker')})")
    say(f"Next: export PREFECT_API_URL={stack.api_url}")
    say("      prefect deployment run pipeline/weekly-pipeline --watch")
    say("Stop: reelgraph server down")


def _stop(stack: Stack, name: str) -> int | None:
    pid = running_pid(stack, name)
    if pid is None:
        return None
    os.killpg(pid, signal.SIGTERM)  # the session the process leads: it and its children
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            os.waitpid(pid, os.WNOHANG)  # reap it when this process started it (tests do)
        except ChildProcessError:
            pass
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)
    else:
        os.killpg(pid, signal.SIGKILL)
    stack.pid_file(name).unlink(missing_ok=True)
    return pid


def down(stack: Stack, say: Callable[[str], None] = print) -> None:
    """Stop the worker, then the server, that `up` started (nothing else)."""
    stopped = False
    for name in ("worker", "server"):
        pid = _stop(stack, name)
        if pid is not None:
            say(f"Stopped the Prefect {name} (pid {pid})")
            stopped = True
    if not stopped:
        say("Nothing to stop: no server or worker started by `reelgraph server up` is running")


def status(stack: Stack, say: Callable[[str], None] = print) -> bool:
    """Say what runs; True when the server answers."""
    answers = healthy(stack)
    server = running_pid(stack, "server")
    owner = f" (pid {server})" if server else (" (not started by reelgraph)" if answers else "")
    say(f"Prefect server at {stack.ui_url}: {'answering' if answers else 'not answering'}{owner}")
    worker = running_pid(stack, "worker")
    say(f"Worker on {POOL}: {f'running (pid {worker})' if worker else 'not running'}")
    return answers
