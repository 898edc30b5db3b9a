"""The rating encoder's spectral movie inputs (ModelConfig.rating_basis_dim) on and off: the rating
output alone (the ranking encoder off), trained as the train stage trains it, its validation
RMSE over several training seeds, on a run's graph file or a synthetic preset built in memory.

    python bench/bench_rating_basis.py --graph OUT/checkpoints/random-.../graph.pt --seeds 0,1,2
    python bench/bench_rating_basis.py --preset small --seeds 0

Validation only: the test part is not read. Results: bench/results/rating-basis.json and a
markdown table.
"""

from __future__ import annotations

import argparse
import json
import time
from tempfile import TemporaryDirectory

from helpers import ROOT, stamp, table


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
    ap.add_argument("--dims", default="0,64", help="rating_basis_dim values, comma-separated")
    args = ap.parse_args()
    graph = RatingGraph.load(args.graph) if args.graph else make_graph(args.preset)
    rows = []
    for seed in (int(s) for s in args.seeds.split(",")):
        for dim in (int(d) for d in args.dims.split(",")):
            model_cfg = default_model_config(graph, rank_head=False, rating_basis_dim=dim)
            with TemporaryDirectory() as work:
                start = time.perf_counter()
                result = train(graph, work, TrainConfig(seed=seed), model_cfg, resume=False)
                rows.append(
                    {
                        "seed": seed,
                        "rating_basis_dim": dim,
                        "val_rmse": round(result.metrics["val"]["rmse"], 4),
                        "best_epoch": result.best_epoch,
                        "epochs": result.epochs_run,
                        "seconds": round(time.perf_counter() - start, 1),
                    }
                )
            print(rows[-1], flush=True)
    out = ROOT / "bench" / "results" / "rating-basis.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    source = args.graph or f"synthetic {args.preset}"
    out.write_text(json.dumps({**stamp(), "graph": source, "rows": rows}, indent=2))
    print(table(rows, list(rows[0])))


if __name__ == "__main__":
    main()
