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


class TrainingError(ReelgraphError):
    """Training, or loading a model, cannot go on: the message says which setting or file."""


class DatasetError(ReelgraphError):
    """A dataset could not be acquired or failed verification. The message says what to do."""


class DownloadError(DatasetError):
    """The network failed us: the only acquisition failure worth retrying."""


class OfflineError(DatasetError):
    """The host cannot be reached at all (no DNS answer, connection refused, no route):
    retrying for minutes will not help, so it is said at once."""


class ReadError(ReelgraphError):
    pass


class CliError(Exception):
    """A user mistake: printed as one line with a hint, exit code 1."""


class IngestError(ReelgraphError):
    """The ingest refused the dataset; no raw table was changed."""


class ParameterError(ReelgraphError):
    """A parameter or folder that cannot work; nothing was done."""
