"""How to refit the served model on every rating: from scratch for the chosen epoch counts, or
warm-started from the evaluated model for a share of them, chosen without the test part.

    python bench/bench_refit.py [--shares 0.1 0.25 0.5]

The refit's question, asked of the validation part: the test part is removed; validation is
cut at random into halves A and B. The model is trained on train and selected on A (as `run`
selects on validation), then refit on train + A in each way, and every variant is read on B
(NDCG@20, Recall@20, coverage@20 over the whole catalogue with train + A movies excluded;
RMSE in stars). "no refit" is the selected model scoring over train + A edges unchanged (a
GraphSAGE reads new edges without training). Features stay those of the train part for every
variant (`run` recomputes them for the refit; the same for all here).
Results: bench/results/refit-ml-latest-small.json and a markdown table.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import tempfile
import time

import torch
from helpers import ML_SMALL, WORK, dataset_graph, settings, table

from reelgraph.evaluate.baselines import GraphSAGEAdapter
from reelgraph.evaluate.protocol import evaluate
from reelgraph.graph.ratings import RatingGraph
from reelgraph.model.saved import default_model_config, load_model
from reelgraph.model.scoring import Scorer
from reelgraph.train.config import TrainConfig
from reelgraph.train.fit import train
from reelgraph.tune.search import without_test


def halves(graph: RatingGraph, seed: int) -> tuple[RatingGraph, RatingGraph]:
    """(train -> validation A, train + A -> validation B), the test part empty in both."""
    val = graph.edges["val"]
    gen = torch.Generator().manual_seed(seed)
    in_a = torch.rand(val.shape[1], generator=gen) < 0.5
    a, b = val[:, in_a], val[:, ~in_a]
    empty = torch.zeros(3, 0)
    select = dataclasses.replace(
        graph, edges={"train": graph.edges["train"], "val": a, "test": empty}
    )
    both = torch.cat([graph.edges["train"], a], dim=1)
    order = torch.argsort(both[0].long() * graph.n_movies + both[1].long())
    refit = dataclasses.replace(graph, edges={"train": both[:, order], "val": b, "test": empty})
    return select, refit


def read_on_b(model_path: str, refit_graph: RatingGraph) -> dict:
    model, _ = load_model(model_path)
    scorer = Scorer.from_model(model, refit_graph, torch.device("cpu"))
    m = evaluate(GraphSAGEAdapter(scorer), refit_graph, "val", (20,)).metrics
    return {
        "B ndcg@20": m[("ndcg", 20)],
        "B recall@20": m[("recall", 20)],
        "coverage@20": m[("coverage", 20)],
        "B rmse": m[("rmse", None)],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shares", type=float, nargs="*", default=[0.1, 0.25, 0.5])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    select, refit = halves(without_test(dataset_graph(ML_SMALL)), args.seed)
    cfg = settings()
    tc = TrainConfig(**{**cfg.train, "seed": args.seed, "device": "cpu"})
    rows = []
    with tempfile.TemporaryDirectory(dir=WORK) as work:
        t = time.perf_counter()
        r = train(select, f"{work}/selected", tc, default_model_config(select, **cfg.model))
        epochs = (r.best_epoch, r.best_rank_epoch)
        print(f"selected on A: rating epoch {epochs[0]}, ranking epoch {epochs[1]}", flush=True)
        rows.append(
            {
                "variant": "no refit (selected model, train + A edges)",
                "epochs": "-",
                "seconds": round(time.perf_counter() - t),
                **read_on_b(r.model_path, refit),
            }
        )
        print(rows[-1], flush=True)
        variants = [("from scratch, the chosen epochs", 1.0, None)] + [
            (f"warm start, {s:g} of the chosen epochs", s, r.model_path) for s in args.shares
        ]
        for i, (name, share, warm) in enumerate(variants):
            fixed = tuple(max(1, math.ceil(share * e)) for e in epochs)
            t = time.perf_counter()
            rr = train(
                refit,
                f"{work}/refit-{i}",
                tc,
                default_model_config(refit, **cfg.model),
                fixed_epochs=fixed,
                warm_start=warm,
            )
            rows.append(
                {
                    "variant": name,
                    "epochs": f"{fixed[0]} / {fixed[1]}",
                    "seconds": round(time.perf_counter() - t),
                    **read_on_b(rr.model_path, refit),
                }
            )
            print(rows[-1], flush=True)
    md = table(rows, list(rows[0]))
    out = WORK.parent / "refit-ml-latest-small.json"
    out.write_text(json.dumps({"rows": rows, "selected_epochs": epochs, "table": md}, indent=2))
    print(f"\n{md}\n\nwrote {out}")


if __name__ == "__main__":
    main()
