"""The publish gate: is the new run worse than the dataset's latest run? (reelgraph.evaluate.gate
says on which ratings and how the two are compared.) Its verdict decides whether the publish
makes the run the latest or keeps it `held`; it is stored in ops.runs.gate either way.

The first run of a dataset, or one whose latest run left no evaluated model to compare with
(files removed, a warehouse from before the gate), publishes: there is nothing to be worse than.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

from reelgraph.core.errors import ReadError
from reelgraph.evaluate import gate
from reelgraph.graph.ratings import RatingGraph
from reelgraph.model.scoring import Scorer
from warehouse.read import Reader

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Evaluated:
    """A run's evaluated model: the files the gate loads."""

    run_id: str
    graph_path: str
    model_path: str
    serving: str | None = None  # the latest run whose lists people see (a refresh of run_id)


def latest_evaluated(warehouse: str | Path, dataset: str, run_id: str) -> Evaluated | None:
    """The dataset's latest run's evaluated model (a refresh's: its base run's), or None."""
    if not Path(warehouse).exists():
        return None
    with Reader(warehouse) as reader:
        latest = reader.latest_run(dataset)
        if latest is None or latest[0] == run_id:
            return None
        serving = latest[0]
        # A refresh serves its base run's model: that run's evaluated model is the one to beat.
        base = reader.run_record(serving).get("refresh_of") or serving
        try:
            params = reader.run_record(base)["params"]
        except ReadError:  # the base run was pruned
            params = None
    files = json.loads(params) if params else {}
    graph_path, model_path = files.get("eval_graph_path"), files.get("eval_model_path")
    if not (graph_path and model_path and Path(graph_path).exists() and Path(model_path).exists()):
        log.warning("publish gate: run %s left no evaluated model to compare with", base)
        return None
    return Evaluated(base, graph_path, model_path, serving)


def check(
    warehouse: str | Path,
    dataset: str,
    run_id: str,
    new: Evaluated,
    tolerance: float,
    seed: int = 0,
    device: str = "auto",
) -> dict:
    """The gate's verdict as ops.runs.gate stores it: held or not, against which run, the figures
    of both models on the same held-out ratings and how many there were."""
    old = latest_evaluated(warehouse, dataset, run_id)
    if old is None:
        return {"held": False, "against": None, "reason": "first run of the dataset"}
    # A rerun on the same data and settings trained on the same checkpoint graph: read it once.
    graphs = {path: RatingGraph.load(path) for path in {new.graph_path, old.graph_path}}
    new_side, old_side = (
        (graphs[e.graph_path], Scorer.load(e.model_path, graphs[e.graph_path], device))
        for e in (new, old)
    )
    verdict = gate.compare(new_side, old_side, tolerance, seed)
    if verdict is None:
        return {
            "held": False,
            "against": old.run_id,
            "latest": old.serving,
            "reason": "no held-out rating in common",
        }
    return {
        "held": verdict.held,
        "against": old.run_id,
        "latest": old.serving,
        "reason": "worse on " + ", ".join(verdict.worse) if verdict.held else "not worse",
        "tolerance": tolerance,
        "k": gate.GATE_K,
        "new": dataclasses.asdict(verdict.new),
        "old": dataclasses.asdict(verdict.old),
        "ratings": verdict.ratings,
        "users": verdict.users,
    }


def describe(run_id: str, verdict: dict) -> str:
    """One line for the terminal and the log."""
    if verdict.get("new") is None:  # nothing compared: a run is only held on figures
        return f"publish gate: run {run_id} published ({verdict['reason']})"
    new, old, k = verdict["new"], verdict["old"], verdict["k"]
    figures = (
        f"NDCG@{k} {new['ndcg']:.4f} against {old['ndcg']:.4f}, RMSE {new['rmse']:.4f} against "
        f"{old['rmse']:.4f} of run {verdict['against']} on {verdict['ratings']} ratings neither "
        f"model trained on (tolerance {verdict['tolerance']:.0%})"
    )
    if verdict["held"]:
        return (
            f"run {run_id} held, not published: {figures}; "
            f"`reelgraph promote {run_id}` publishes it"
        )
    return f"publish gate passed: {figures}"
