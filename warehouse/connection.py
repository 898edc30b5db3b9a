from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import duckdb

from reelgraph.core.errors import ReelgraphError


class WarehouseError(ReelgraphError):
    """The warehouse is missing or unusable; the message says what to do."""


class WarehouseLockedError(WarehouseError):
    """Another process held the warehouse file for longer than we were willing to wait."""


def connect(
    path: str | Path,
    read_only: bool = False,
    timeout_s: float = 60.0,
    initial_backoff_s: float = 0.05,
) -> duckdb.DuckDBPyConnection:
    """Open the warehouse, retrying while another process holds DuckDB's file lock."""
    path = Path(path)
    if read_only and not path.exists():
        raise WarehouseError(
            f"no warehouse at {path}; run `reelgraph run` (or `make run`) first, or pass --warehouse"
        )
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout_s
    backoff = initial_backoff_s
    marker: Path | None = None
    try:
        while True:
            try:
                con = duckdb.connect(str(path), read_only=read_only)
                con.execute(_MACROS)
                return con
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower():
                    raise WarehouseError(f"cannot open warehouse {path}: {exc}") from exc
                if time.monotonic() >= deadline:
                    raise WarehouseLockedError(
                        f"warehouse {path} stayed locked by another process for {timeout_s:.0f}s "
                        f"(a flow writing it?); try again when it finishes"
                    ) from exc
                if not read_only and marker is None:
                    marker = _writer_marker(path)
                    marker.write_text(str(os.getpid()))
                time.sleep(backoff)
                backoff = min(backoff * 2, 1.0)
    finally:
        if marker is not None:
            marker.unlink(missing_ok=True)


# A writer that finds the file locked leaves "<warehouse>.writer-waiting.<pid>" beside it until it
# gets in, so a long-lived reader (SharedReadConnection) knows to give the file back.
def _writer_marker(path: Path) -> Path:
    return path.with_name(f"{path.name}.writer-waiting.{os.getpid()}")


def writer_waiting(path: Path) -> bool:
    """Is a live process waiting to write this warehouse? (Markers of dead processes are ignored.)"""
    prefix = f"{path.name}.writer-waiting."
    try:
        entries = [e.name for e in os.scandir(path.parent) if e.name.startswith(prefix)]
    except FileNotFoundError:
        return False
    for name in entries:
        pid = name[len(prefix) :]
        if pid.isdigit() and _alive(int(pid)):
            return True
    return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class SharedReadConnection:
    """One read-only connection that a server's requests share, each through its own cursor, so
    a request does not pay for opening the file (~30 ms of a ~60 ms request on 25M ratings).

    DuckDB lets a writer in only when no other process has the file open, so this gives the file
    back when no request has used it for `idle_s`, and within `poll_s` when a writer is waiting
    (see writer_waiting). While a writer waits, requests open their own connection, which waits
    behind the writer's lock like any other reader."""

    def __init__(
        self, path: str | Path, idle_s: float = 1.0, poll_s: float = 0.05, timeout_s: float = 10.0
    ) -> None:
        self.path = Path(path)
        self.idle_s, self.poll_s, self.timeout_s = idle_s, poll_s, timeout_s
        self._root: duckdb.DuckDBPyConnection | None = None
        self._last_used = 0.0
        self._active = 0
        self._lock = threading.Lock()
        self._reaper: threading.Thread | None = None

    @contextlib.contextmanager
    def cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        shared = False
        if writer_waiting(self.path):
            self._give_back()
            con = connect(self.path, read_only=True, timeout_s=self.timeout_s)
        else:
            with self._lock:
                if self._root is None:
                    self._root = connect(self.path, read_only=True, timeout_s=self.timeout_s)
                    self._reaper = threading.Thread(target=self._reap, daemon=True)
                    self._reaper.start()
                con = self._root.cursor()
                self._active += 1
            shared = True
        try:
            if shared:  # TEMP macros belong to one connection, and a cursor is a new one
                con.execute(_MACROS)
            yield con
        finally:
            con.close()
            if shared:
                with self._lock:
                    self._active -= 1
                    self._last_used = time.monotonic()

    @property
    def is_open(self) -> bool:
        return self._root is not None

    def close(self) -> None:
        self._give_back()

    def _give_back(self) -> None:
        with self._lock:
            if self._root is not None:
                # Cursors still running keep the database open until they close; new requests
                # no longer get one.
                self._root.close()
                self._root = None

    def _reap(self) -> None:
        while True:
            time.sleep(self.poll_s)
            with self._lock:
                if self._root is None:
                    return
                idle = self._active == 0 and time.monotonic() - self._last_used > self.idle_s
            if idle or writer_waiting(self.path):
                self._give_back()
                return


_MACROS = resources.files("warehouse").joinpath("sql", "macros.sql").read_text()


def sql_text(layer: str, name: str) -> str:
    """The text of warehouse/sql/<layer>/<name>."""
    return resources.files("warehouse").joinpath("sql", layer, name).read_text()


def run_sql_file(con: duckdb.DuckDBPyConnection, layer: str, name: str, **params: object) -> None:
    """Execute every statement of one SQL file; `$name` parameters are bound by DuckDB (never
    formatted into the text), each statement getting the ones it uses."""
    for statement in con.extract_statements(sql_text(layer, name)):
        wanted = {k: params[k] for k in statement.named_parameters}
        con.execute(statement.query, wanted) if wanted else con.execute(statement.query)


def fetch_one(con: duckdb.DuckDBPyConnection, query: str, params: object = None) -> tuple | None:
    """The first row or None. Fetches everything so the result is complete: DuckDB 2 refuses
    other work on a connection while an execute() result is still open."""
    rows = (
        con.execute(query, params).fetchall()
        if params is not None
        else con.execute(query).fetchall()
    )
    return rows[0] if rows else None


@contextlib.contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """All or nothing: commit when the block ends, roll back on any exception (a kill rolls
    back too: DuckDB discards an uncommitted transaction when the file is next opened)."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")
