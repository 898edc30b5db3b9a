"""The evaluate stage fanned out on a local Dask cluster (issue 16): wall time of
`evaluate_flow` in one process against `--workers N`, in one run, on the synthetic graph (the
same models the pipeline evaluates at that size), and whether both recorded the same metrics.

    python bench/bench_fanout.py --preset 25m --workers 2

GraphSAGE is trained for `--epochs` fixed epochs first: only the evaluation is timed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from reelgraph.core import settings  # noqa: E402

settings.configure_prefect_environment()

from helpers import agreement, run_metrics  # noqa: E402

from flows.evaluate_flow import evaluate_flow  # noqa: E402
from reelgraph.pipeline import fanout  # noqa: E402
from reelgraph.synthetic.graph import make_graph  # noqa: E402
from reelgraph.train.config import TrainConfig  # noqa: E402
from reelgraph.train.fit import train  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="25m")
    ap.add_argument("--workers", type=int, default=2, help="0: the in-process pass alone")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--models", default=None, help="comma-separated; default: the pipeline's")
    ap.add_argument("--out", default="bench/results/fanout.json")
    args = ap.parse_args()
    work = Path("bench/results/work/fanout")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    graph = make_graph(args.preset)
    graph.save(work / "graph.pt")
    cfg = TrainConfig(device="cpu", max_minutes=None)
    model = train(graph, work / "model", cfg, fixed_epochs=(args.epochs, args.epochs))
    del graph
    common = dict(
        graph_path=str(work / "graph.pt"),
        model_path=model.model_path,
        warehouse=str(work / "w.duckdb"),
        outputs=str(work / "outputs"),
        models=args.models.split(",") if args.models else None,
        device="cpu",
    )
    timings = {}
    t = time.perf_counter()
    one = evaluate_flow(run_id="in-process", **common)
    timings["in_process_s"] = round(time.perf_counter() - t, 1)
    print(json.dumps(timings), flush=True)
    if not args.workers:
        return
    runner = fanout.task_runner(workers=args.workers)
    t = time.perf_counter()
    evaluate_flow.with_options(task_runner=runner)(run_id="workers", **common)
    timings[f"workers_{args.workers}_s"] = round(time.perf_counter() - t, 1)
    a = run_metrics(work / "w.duckdb", "in-process")
    b = run_metrics(work / "w.duckdb", "workers")
    result = {
        "preset": args.preset,
        "models": one["models"],
        **timings,
        "ratio_in_process_over_workers": round(
            timings["in_process_s"] / timings[f"workers_{args.workers}_s"], 2
        ),
        **agreement(a, b),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
