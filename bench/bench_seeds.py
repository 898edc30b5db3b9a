"""Seed variance: GraphSAGE and every learned baseline trained with several seeds on one split,
test metrics as mean +- std.

    python bench/bench_seeds.py [--seeds 0,1,2] [--split random] [--dataset-dir DIR]

The split is the one `reelgraph run --seed 0` evaluates on (seed 0), so only the models' own
randomness (initialisation, sampling, negatives) varies. Settings: the dataset's tuned config,
as `run` uses it. Results: bench/results/seeds-<dataset>-<split>.json and a markdown table.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import numpy as np
import torch
from helpers import ML_SMALL, WORK, dataset_graph, settings, table

from reelgraph.evaluate.baselines import GraphSAGEAdapter, build_baseline
from reelgraph.evaluate.protocol import evaluate
from reelgraph.model.saved import default_model_config, load_model
from reelgraph.model.scoring import Scorer
from reelgraph.train.config import TrainConfig
from reelgraph.train.fit import train

METRICS = (("rmse", None), ("ndcg", 20), ("recall", 20), ("precision", 10), ("coverage", 20))
LEARNED = ("mf", "ease", "lightgcn", "bpr_mf", "ials")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--split", default="random")
    ap.add_argument("--models", default=",".join(("graphsage", *LEARNED)))
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    graph = dataset_graph(ML_SMALL, protocol=args.split)
    cfg = settings()
    runs: dict[str, list[dict]] = {}
    for seed in seeds:
        for name in args.models.split(","):
            t = time.perf_counter()
            if name == "graphsage":
                with tempfile.TemporaryDirectory(dir=WORK) as work:
                    tc = TrainConfig(**{**cfg.train, "seed": seed, "device": "cpu"})
                    r = train(graph, work, tc, default_model_config(graph, **cfg.model))
                    model, _ = load_model(r.model_path)
                rec = GraphSAGEAdapter(Scorer.from_model(model, graph, torch.device("cpu")))
            else:
                rec = build_baseline(name, graph, cfg.baselines.get(name), seed)
            m = evaluate(rec, graph, "test", (10, 20)).metrics
            row = {f"{k}@{n}" if n else k: m.get((k, n)) for k, n in METRICS}
            runs.setdefault(name, []).append(
                {**row, "seed": seed, "seconds": time.perf_counter() - t}
            )
            print(name, seed, row, flush=True)
    rows = []
    for name, results in runs.items():
        row = {"model": name}
        for k, n in METRICS:
            key = f"{k}@{n}" if n else k
            vals = [r[key] for r in results if r[key] is not None]
            row[key] = f"{np.mean(vals):.4f} ± {np.std(vals):.4f}" if vals else None
        rows.append(row)
    md = table(rows, ["model", *[f"{k}@{n}" if n else k for k, n in METRICS]])
    out = WORK.parent / f"seeds-ml-latest-small-{args.split}.json"
    out.write_text(json.dumps({"seeds": seeds, "runs": runs, "table": md}, indent=2))
    print(f"\nseeds {seeds}, split {args.split} (seed 0), test metrics:\n\n{md}\n\nwrote {out}")


if __name__ == "__main__":
    main()
