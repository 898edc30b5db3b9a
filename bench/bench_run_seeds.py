"""Several `reelgraph run`s side by side: each model's test metrics as mean +- std over the
runs (for example seeds 0, 1, 2: a split, features and training of their own each, every model
on its run's split), read from the warehouse they published into.

    for s in 0 1 2; do reelgraph run --dataset ml-latest-small --source DIR --seed $s; done
    python bench/bench_run_seeds.py --runs RUN_0,RUN_1,RUN_2 [--warehouse data/reelgraph.duckdb]

Results: bench/results/run-seeds.json and a markdown table, best first by NDCG@20.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from helpers import ROOT, run_metrics, stamp, table

# (key in marts.metrics' "metric@k" form, column): RMSE has no K.
METRICS = (
    ("rmse@None", "RMSE"),
    ("ndcg@20", "NDCG@20"),
    ("recall@20", "Recall@20"),
    ("precision@10", "Precision@10"),
    ("coverage@20", "coverage@20"),
)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", required=True, help="comma-separated run ids")
    p.add_argument("--warehouse", type=Path, default=ROOT / "data" / "reelgraph.duckdb")
    args = p.parse_args()
    runs = args.runs.split(",")
    per_run = [run_metrics(args.warehouse, r) for r in runs]
    models = sorted({key.split("/")[0] for key in per_run[0]})
    rows = []
    for model in models:
        row = {"model": model}
        for metric, column in METRICS:
            values = [m.get(f"{model}/{metric}") for m in per_run]
            if any(v is None for v in values):
                row[column] = "—"
                continue
            row[column] = f"{np.mean(values):.4f} ± {np.std(values):.4f}"
            row[f"_{metric}"] = float(np.mean(values))
        rows.append(row)
    rows.sort(key=lambda r: -r.get("_ndcg@20", -1.0))
    out = ROOT / "bench" / "results" / "run-seeds.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({**stamp(), "runs": runs, "metrics": per_run}, indent=2))
    print(f"{len(runs)} runs: {', '.join(runs)} (mean ± population std)\n")
    print(table(rows, ["model", *(column for _, column in METRICS)]))


if __name__ == "__main__":
    main()
