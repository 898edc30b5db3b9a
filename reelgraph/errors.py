"""The base of every failure whose message is meant for the person at the terminal.

The CLI prints such an error as one line (no traceback) and exits non-zero. It imports
nothing, so the model and scoring modules can use it on a GPU machine without Prefect or DuckDB.
"""


class ReelgraphError(RuntimeError):
    """A failure with a clear message naming the file, row or parameter at fault."""
