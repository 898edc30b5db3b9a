"""One baseline's fit on the synthetic graph built in memory: wall time, epochs and validation
RMSE (the rating baselines) or its fit alone (the others), nothing scored.

    python bench/bench_baseline_fit.py --preset quarter-25m --models mf
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from helpers import stamp  # noqa: E402

from reelgraph.evaluate import baselines  # noqa: E402
from reelgraph.synthetic.graph import make_graph  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="quarter-25m")
    ap.add_argument("--models", default="mf", help="comma-separated baseline names")
    args = ap.parse_args()
    graph = make_graph(args.preset)
    for name in args.models.split(","):
        t = time.perf_counter()
        model = baselines.build_baseline(name, graph, None, 0)
        row = {"model": name, "preset": args.preset, "fit_s": round(time.perf_counter() - t, 1)}
        if history := getattr(model, "history", None):
            row["epochs"] = len(history)
        if (rmse := getattr(model, "val_rmse", None)) is not None:
            row["val_rmse"] = round(rmse, 5)
        print(json.dumps({**row, **stamp()}), flush=True)


if __name__ == "__main__":
    main()
