"""A run's graph and encoded model, read once per process: the tasks of a stage (the evaluation's
models and user shards, the published lists' shards, the figures) each name their files, and
every task in the same process (the flow's own, or one Dask worker) shares one copy. A file
rewritten since is read again; `forget` drops both when a stage is done with them.

Imports only torch / numpy.
"""

from __future__ import annotations

import functools
from pathlib import Path

from reelgraph.graph.ratings import RatingGraph
from reelgraph.model.scoring import Scorer


def _version(path: str) -> tuple[str, int, int]:
    stat = Path(path).stat()
    return str(Path(path).resolve()), stat.st_mtime_ns, stat.st_size


def graph(path: str) -> RatingGraph:
    """The graph at path (a 25m graph takes seconds to read)."""
    return _graph(_version(path))


def scorer(graph_path: str, model_path: str, device: str = "auto") -> Scorer:
    """The model at model_path encoded over the graph's train edges (seconds at 25m)."""
    return _scorer(_version(graph_path), _version(model_path), device)


@functools.lru_cache(maxsize=1)  # one graph held: the stage's
def _graph(version: tuple[str, int, int]) -> RatingGraph:
    return RatingGraph.load(version[0])


@functools.lru_cache(maxsize=1)  # one model held: the stage's
def _scorer(graph: tuple[str, int, int], model: tuple[str, int, int], device: str) -> Scorer:
    return Scorer.load(model[0], _graph(graph), device)


def forget() -> None:
    """Drop what is held (a stage's flow calls this when it is done, so its memory is free for
    the next stage)."""
    _graph.cache_clear()
    _scorer.cache_clear()
