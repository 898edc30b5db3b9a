"""Prefect's temporary API server, started by the command that needs it and dying with it.

Without a PREFECT_API_URL, Prefect starts a temporary server (`python -m uvicorn ...`, about
240 MB) the first time a flow needs one, and stops it at exit. A command killed by a signal it
cannot catch (kill -9, the OOM killer, a scheduler's hard kill) never reaches that exit: the
server was adopted by PID 1 and kept running. Here the command starts that same server itself,
from its main thread, as a child the kernel sends SIGKILL when the command dies
(PR_SET_PDEATHSIG, Linux). Prefect's own code then finds it running (the server is one object
per process) and uses it, and stops it at a normal exit as before. Elsewhere than Linux this
does nothing and Prefect starts its server as it always did.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
from typing import Any

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def start_owned_server() -> None:
    """Start Prefect's temporary server now, tied to this process (see the module's doc).
    Nothing to do with a server of the user's (PREFECT_API_URL) or off Linux."""
    from prefect.settings import PREFECT_API_URL

    if PREFECT_API_URL.value() or not sys.platform.startswith("linux"):
        return
    # The parent-death signal fires when the thread that started the child ends: only the
    # main thread lives as long as the command.
    if threading.current_thread() is not threading.main_thread():
        return
    import prefect.server.api.server as server_module

    original = server_module.subprocess
    server_module.subprocess = _DiesWithParent(original)  # type: ignore[assignment]
    try:
        server_module.SubprocessASGIServer().start()
    finally:
        server_module.subprocess = original  # type: ignore[assignment]


class _DiesWithParent:
    """The subprocess module, but a child it starts is killed when this process dies."""

    def __init__(self, module: Any) -> None:
        self._module = module

    def __getattr__(self, name: str) -> Any:
        return getattr(self._module, name)

    def Popen(self, *args: Any, **kwargs: Any) -> subprocess.Popen:  # noqa: N802 - its name
        return self._module.Popen(*args, preexec_fn=_die_with(os.getpid()), **kwargs)


def _die_with(parent: int):  # noqa: ANN202 - a preexec_fn
    def set_parent_death_signal() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before the signal was set
            os._exit(1)

    return set_parent_death_signal
