"""A refusal the project raised on purpose is one line at the terminal, also from inside a flow.

When a task raises, Prefect logs the exception with its traceback at ERROR, once for the task
and once more for every flow around it, then a "Finished in state Failed(...)" line for each:
80-90 lines before the CLI prints its own one-line message. For a ReelgraphError (a refusal
that names the file, row or setting at fault) those records are dropped from the terminal's
console handler only: the flow run still ends Failed with the message as its state, and the
Prefect UI (the API log handler) keeps the whole traceback. Any other exception, a bug, keeps
its traceback everywhere. `reelgraph --debug` (or REELGRAPH_DEBUG=1) keeps them all.

Imports nothing heavy.
"""

from __future__ import annotations

import logging
import os
import re

from reelgraph.core.errors import ReelgraphError

DEBUG_ENV = "REELGRAPH_DEBUG"
# Prefect's state message names the exception's class: "... encountered an exception IngestError: ..."
_STATE_EXCEPTION = re.compile(r"Finished in state Failed\(.*?exception:? (\w+)", re.DOTALL)


def debugging() -> bool:
    return os.environ.get(DEBUG_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def _refusal_names() -> set[str]:
    names, todo = set(), [ReelgraphError]
    while todo:
        cls = todo.pop()
        names.add(cls.__name__)
        todo.extend(cls.__subclasses__())
    return names


def is_refusal(exc: BaseException | None) -> bool:
    """The exception, or one it was raised from, is a ReelgraphError."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, ReelgraphError):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


class RefusalsWithoutTracebacks(logging.Filter):
    """Drops Prefect's records of a project refusal: the exception with its traceback, and the
    Failed-state line that repeats it (the CLI prints the message once)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if debugging():
            return True
        if record.exc_info and is_refusal(record.exc_info[1]):
            return False
        message = record.getMessage() if isinstance(record.msg, str) else ""
        found = _STATE_EXCEPTION.search(message)
        return not (found and found.group(1) in _refusal_names())


def hide_refusal_tracebacks() -> None:
    """Call after Prefect has set up its logging: filters the console handlers it attached to
    the root logger (the API handler, the UI's logs, is left as it is)."""
    refusals = RefusalsWithoutTracebacks()
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler) and not any(
            isinstance(f, RefusalsWithoutTracebacks) for f in handler.filters
        ):
            handler.addFilter(refusals)
