"""The folder a run writes into, checked right before each write of a model, graph, checkpoint
or list file: a folder removed or replaced by a file while the run went on (a cleanup script,
a careless `rm -rf outputs; touch outputs`) stops the run with one line naming it, instead of
torch's "Parent directory ... does not exist" under Prefect's tracebacks."""

from __future__ import annotations

from pathlib import Path

from reelgraph.core.errors import ReelgraphError


class FolderGoneError(ReelgraphError):
    """A folder the run writes into was removed or replaced during the run."""


def folder_for(path: str | Path, create: bool = False) -> Path:
    """The folder `path` goes in, when it is (or, with create, can be made) a folder."""
    parent = Path(path).parent
    blocked = next((p for p in (parent, *parent.parents) if p.exists() and not p.is_dir()), None)
    if blocked is not None:
        raise FolderGoneError(
            f"{blocked} is a file where the run writes its outputs (replaced during the run?); "
            "nothing was published: the warehouse keeps its last good state"
        )
    if create:
        parent.mkdir(parents=True, exist_ok=True)
    elif not parent.is_dir():
        raise FolderGoneError(
            f"{parent} no longer exists (removed during the run?); nothing was published: the "
            "warehouse keeps its last good state"
        )
    return parent
