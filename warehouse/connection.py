from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import duckdb

from reelgraph.errors import ReelgraphError


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
            f"no warehouse at {path}; run `reelgraph ingest` (or `make run`) first, or pass --warehouse"
        )
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout_s
    backoff = initial_backoff_s
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
            time.sleep(backoff)
            backoff = min(backoff * 2, 1.0)


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
