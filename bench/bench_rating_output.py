"""The rating output alone (the ranking encoder off), trained as the train stage trains it, under
several settings: its validation RMSE over several training seeds, on a run's graph file or a
synthetic preset built in memory. Each variant is a JSON object of ModelConfig ("model") and
TrainConfig ("train") settings over the code's defaults; --dims is a shorthand for variants
that differ only in the spectral movie inputs (ModelConfig.rating_basis_dim).

    python bench/bench_rating_output.py --graph OUT/checkpoints/random-.../graph.pt --seeds 0,1,2
    python bench/bench_rating_output.py --preset small --seeds 0 --dims 0,64
    python bench/bench_rating_output.py --graph ... --seeds 0 \\
        --variants '[{"model": {"rating_members": 1}, "train": {"rating_ema": 0}}, {}]'

Validation only: the test part is not read. Results: bench/results/rating-output.json and a
markdown table.
"""

from __future__ import annotations

import argparse
import json
import time
from tempfile import TemporaryDirectory

from helpers import ROOT, stamp, table


def variants(args: argparse.Namespace) -> list[dict]:
    if args.variants:
        return json.loads(args.variants)
    if args.dims:
        return [{"model": {"rating_basis_dim": int(d)}} for d in args.dims.split(",")]
    return [{}]  # the code's defaults


def main() -> None:
    from reelgraph.graph.ratings import RatingGraph
    from reelgraph.model.saved import default_model_config
    from reelgraph.synthetic.graph import make_graph
    from reelgraph.train.config import TrainConfig
    from reelgraph.train.fit import train

    ap = argparse.ArgumentParser()
    ap.add_argument("--graph", help="a run's graph.pt (else the preset's, built in memory)")
    ap.add_argument("--preset", default="small", help="synthetic preset when no --graph")
    ap.add_argument("--seeds", default="0,1,2", help="training seeds, comma-separated")
    ap.add_argument("--dims", help="rating_basis_dim values, comma-separated")
    ap.add_argument("--variants", help='a JSON list of {"model": {...}, "train": {...}}')
    args = ap.parse_args()
    graph = RatingGraph.load(args.graph) if args.graph else make_graph(args.preset)
    rows = []
    for seed in (int(s) for s in args.seeds.split(",")):
        for variant in variants(args):
            settings = variant.get("model", {})
            model_cfg = default_model_config(graph, **{"rank_head": False, **settings})
            cfg = TrainConfig(**{**variant.get("train", {}), "seed": seed})
            with TemporaryDirectory() as work:
                start = time.perf_counter()
                result = train(graph, work, cfg, model_cfg, resume=False)
                rows.append(
                    {
                        "seed": seed,
                        "settings": json.dumps(variant),
                        "val_rmse": round(result.metrics["val"]["rmse"], 4),
                        "best_epoch": result.best_epoch,
                        "epochs": result.epochs_run,
                        "seconds": round(time.perf_counter() - start, 1),
                    }
                )
            print(rows[-1], flush=True)
    out = ROOT / "bench" / "results" / "rating-output.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    source = args.graph or f"synthetic {args.preset}"
    out.write_text(json.dumps({**stamp(), "graph": source, "rows": rows}, indent=2))
    print(table(rows, list(rows[0])))


if __name__ == "__main__":
    main()
