"""Where each file of a run lives, named once: `<outputs>/runs/<run_id>/` and `<outputs>/marts/`.

Flows, tasks, publish, refresh and the explorer ask a RunLayout for a path instead of spelling
folder and file names themselves. It imports nothing heavy (the GPU machine can use it).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

RUNS = "runs"
MARTS = "marts"


def _file(name: str) -> property:
    """A path inside the run's folder, read as an attribute."""
    return property(lambda layout: layout.dir / name, doc=f"<run folder>/{name}")


@dataclasses.dataclass(frozen=True)
class RunLayout:
    dir: Path  # <outputs>/runs/<run_id>

    @classmethod
    def of(cls, outputs: str | os.PathLike[str], run_id: str) -> RunLayout:
        return cls(Path(outputs) / RUNS / run_id)

    @property
    def outputs(self) -> Path:
        return self.dir.parent.parent

    def sibling(self, run_id: str) -> RunLayout:
        """Another run of the same outputs folder (a refresh's base run)."""
        return RunLayout(self.dir.parent / run_id)

    model = _file("model.pt")  # the served model (refit on every rating, or the evaluated one)
    graph = _file("graph.pt")
    model_card = _file("model_card.md")
    comparison = _file("comparison.md")
    metrics = _file("metrics.json")
    embedding_quality = _file("embedding_quality.json")
    figures = _file("figures")

    def trained(self, name: str) -> Path:
        """A model trained in this run: `model` (served) or `eval_model` (evaluated)."""
        return self.dir / f"{name}.pt"

    def history(self, name: str) -> Path:
        return self.dir / f"{name}_history.json"


def marts_dir(outputs: str | os.PathLike[str]) -> Path:
    """The Hive-partitioned Parquet copy of the published marts (see reelgraph.serve.hive)."""
    return Path(outputs) / MARTS
