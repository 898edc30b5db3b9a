"""Ablation on validation: what each choice of the ranking path buys.

    python bench/bench_ablation.py [--split random]

Starts from the settings `run` uses for ml-latest-small (its tuned config) and changes one
thing at a time; every variant trains with the same seed and is read on the VALIDATION part
only (NDCG@20 and Recall@20 over the whole catalogue, train movies excluded; coverage@20).
Results: bench/results/ablation-ml-latest-small.json and a markdown table.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import torch
from helpers import ML_SMALL, WORK, dataset_graph, settings, table

from reelgraph.evaluate.baselines import GraphSAGEAdapter
from reelgraph.evaluate.protocol import evaluate
from reelgraph.model.saved import default_model_config, load_model
from reelgraph.model.scoring import Scorer
from reelgraph.train.config import TrainConfig
from reelgraph.train.fit import train
from reelgraph.tune.search import without_test


def variants(model: dict, train_cfg: dict) -> list[tuple[str, dict, dict]]:
    """(what changes, model overrides, training overrides), the tuned settings first."""
    flip_aggr = "sym" if model.get("rank_aggr", "mean") == "mean" else "mean"
    flip_combine = "last" if model.get("rank_combine", "mean") == "mean" else "mean"
    return [
        ("tuned settings", {}, {}),
        (
            "BPR, one uniform negative (instead of sampled softmax)",
            {},
            {"rank_loss": "bpr", "rank_negatives": 1},
        ),
        ("BPR, hardest of 32 uniform negatives", {}, {"rank_loss": "bpr", "rank_negatives": 32}),
        ("softmax without in-batch negatives", {}, {"rank_in_batch": False}),
        ("no learned id embeddings (features only)", {"rank_id_embeddings": False}, {}),
        (f"layers combined by: {flip_combine}", {"rank_combine": flip_combine}, {}),
        (f"aggregation: {flip_aggr}", {"rank_aggr": flip_aggr}, {}),
        ("plain dot product (no cosine / temperature)", {"rank_temperature": 0.0}, {}),
        ("`rates_dev` relation on the ranking path", {"rank_rating_messages": True}, {}),
        ("one full-batch step per epoch", {}, {"rank_batch_size": 10**9}),
        ("positives: every rating", {}, {"rank_threshold": 0.5}),
        ("positives: ratings >= 4", {}, {"rank_threshold": 4.0}),
        (
            "message fraction 0.75 (25% of edges supervised per epoch)",
            {},
            {"message_fraction": 0.75},
        ),
        ("no ranking encoder: rank by predicted rating", {"rank_head": False}, {}),
    ]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--split", default="random")
    ap.add_argument("--only", type=int, nargs="*", help="variant numbers to run (default all)")
    args = ap.parse_args()
    graph = without_test(dataset_graph(ML_SMALL, protocol=args.split))
    cfg = settings()
    rows = []
    for i, (name, model_changes, train_changes) in enumerate(variants(cfg.model, cfg.train)):
        if args.only and i not in args.only:
            continue
        t = time.perf_counter()
        model_cfg = default_model_config(graph, **{**cfg.model, **model_changes})
        ranks = model_cfg.rank_head
        tc = TrainConfig(
            **{**cfg.train, **train_changes, "seed": 0, "device": "cpu", "train_rating": not ranks}
        )
        with tempfile.TemporaryDirectory(dir=WORK) as work:
            r = train(graph, work, tc, model_cfg)
            model, _ = load_model(r.model_path)
        rec = GraphSAGEAdapter(Scorer.from_model(model, graph, torch.device("cpu")))
        m = evaluate(rec, graph, "val", (20,)).metrics
        row = {
            "variant": name,
            "val ndcg@20": m[("ndcg", 20)],
            "val recall@20": m[("recall", 20)],
            "coverage@20": m[("coverage", 20)],
            "epoch chosen": r.best_rank_epoch if ranks else r.best_epoch,
            "seconds": round(time.perf_counter() - t),
        }
        rows.append(row)
        print(row, flush=True)
    md = table(rows, list(rows[0]))
    out = WORK.parent / f"ablation-ml-latest-small-{args.split}.json"
    out.write_text(json.dumps({"rows": rows, "settings": cfg.path, "table": md}, indent=2))
    print(f"\n{md}\n\nwrote {out}")


if __name__ == "__main__":
    main()
