"""What the publish gate costs: the two evaluated models loaded and both scored on the held-out
set (reelgraph.evaluate.gate), timed, with the peak memory of the process.

    python bench/bench_publish_gate.py --new-run OUTPUTS/runs/RUN_B --old-run OUTPUTS/runs/RUN_A
    python bench/bench_publish_gate.py --new-run OUTPUTS/runs/RUN   # a run against itself

A run folder holds its evaluated model (eval_model.pt); the graph it was trained on is the
checkpoint folder's graph.pt that its manifest names (`--new-graph` / `--old-graph`, else the
one checkpoint folder of OUTPUTS whose graph has validation ratings and the folder's split).
Against itself, the gate's figures must be the run's test NDCG@20 and RMSE.
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

from reelgraph.evaluate import gate
from reelgraph.graph.ratings import RatingGraph
from reelgraph.model.scoring import Scorer


def evaluated_graph(run_dir: Path) -> Path:
    """The checkpoint graph with a validation part (the evaluation split's, not the refit's)."""
    for path in sorted((run_dir.parent.parent / "checkpoints").glob("*/graph.pt")):
        if RatingGraph.load(path).edges["val"].shape[1]:
            return path
    raise SystemExit(f"no evaluation graph under {run_dir.parent.parent / 'checkpoints'}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--new-run", type=Path, required=True)
    p.add_argument("--old-run", type=Path, help="default: the new run itself")
    p.add_argument("--new-graph", type=Path)
    p.add_argument("--old-graph", type=Path)
    p.add_argument("--tolerance", type=float, default=0.02)
    args = p.parse_args()
    old_run = args.old_run or args.new_run
    sides = []
    t0 = time.perf_counter()
    for run, graph_path in ((args.new_run, args.new_graph), (old_run, args.old_graph)):
        graph = RatingGraph.load(graph_path or evaluated_graph(run))
        sides.append((graph, Scorer.load(run / "eval_model.pt", graph, "cpu")))
    loaded = time.perf_counter() - t0
    t1 = time.perf_counter()
    verdict = gate.compare(sides[0], sides[1], args.tolerance)
    compared = time.perf_counter() - t1
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"graphs and models loaded and encoded: {loaded:.1f} s")
    print(f"held-out set and both models scored: {compared:.1f} s; peak memory {peak:.1f} GiB")
    if verdict is None:
        print("no held-out rating in common")
        return
    print(
        f"{verdict.ratings:,} ratings, {verdict.users:,} users; NDCG@{gate.GATE_K} "
        f"{verdict.new.ndcg:.4f} against {verdict.old.ndcg:.4f}, RMSE {verdict.new.rmse:.4f} "
        f"against {verdict.old.rmse:.4f}; held: {verdict.held}"
    )


if __name__ == "__main__":
    main()
