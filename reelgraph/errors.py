"""The base of every failure whose message is meant for the person at the terminal.

The CLI prints such an error as one line (no traceback) and exits non-zero. It imports
nothing, so the model and scoring modules can use it on a GPU machine without Prefect or DuckDB.
"""


class ReelgraphError(RuntimeError):
    """A failure with a clear message naming the file, row or parameter at fault."""


def first_line(exc: BaseException, width: int = 300) -> str:
    """An error's first line, cut short: libraries (Polars, DuckDB) quote whole chunks of the
    input in their messages, which must never reach a one-line refusal."""
    lines = str(exc).strip().splitlines()
    return (lines[0] if lines else type(exc).__name__)[:width]
