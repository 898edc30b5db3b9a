"""A SIGTERM ends a command within seconds, whatever it is doing.

Schedulers, container runtimes and Prefect's cancellation stop work with SIGTERM. Inside a
flow run Prefect replaces the handler with one that raises in the main thread and then reports
the crash to its API; when the same signal also stopped the temporary API server (`timeout`
and systemd signal the whole process group), that report retried for minutes. So a watchdog
thread learns of the signal through Python's wakeup file descriptor (written by the C-level
handler whichever Python handler is installed), gives the command `grace_s` to wind down, then
stops its child processes and exits. Every write of the project is atomic (DuckDB
transactions, files renamed into place), so an exit at any point keeps the last good state,
as a SIGKILL does.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

GRACE_ENV = "REELGRAPH_SIGTERM_GRACE_S"
DEFAULT_GRACE_S = 5.0
_installed = False


def exit_promptly_on_sigterm(command: str) -> None:
    """Install the watchdog once per process (main thread only; elsewhere a no-op)."""
    global _installed
    if _installed or threading.current_thread() is not threading.main_thread():
        return
    grace_s = float(os.environ.get(GRACE_ENV) or DEFAULT_GRACE_S)
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    # A Python-level handler must exist for the wakeup fd to be written. Outside flow runs it
    # ends the command as the default would, unwinding (open transactions roll back).
    signal.signal(signal.SIGTERM, _raise_exit)
    threading.Thread(
        target=_watch, args=(read_fd, grace_s, command), name="sigterm-watchdog", daemon=True
    ).start()
    _installed = True


def _raise_exit(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def _watch(read_fd: int, grace_s: float, command: str) -> None:
    while True:
        data = os.read(read_fd, 64)
        if signal.SIGTERM in data:
            break
    time.sleep(grace_s)
    _stop_children()
    print(
        f"reelgraph {command}: stopped by SIGTERM; the warehouse, cache and outputs keep their "
        f"last good state (run it again to resume)",
        file=sys.stderr,
        flush=True,
    )
    os._exit(128 + signal.SIGTERM)


def _stop_children(wait_s: float = 2.0) -> None:
    """Stop what this process started (Prefect's temporary API server, data loader workers)."""
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil comes with torch-geometric
        return
    children = psutil.Process().children(recursive=True)
    for child in children:
        try:
            child.terminate()
        except psutil.Error:
            pass
    _, alive = psutil.wait_procs(children, timeout=wait_s)
    for child in alive:
        try:
            child.kill()
        except psutil.Error:
            pass
