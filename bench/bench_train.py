"""Benchmark: GraphSAGE training on synthetic 25m on CPU (issue 4), and the usual PyG recipe
on the same graph for comparison.

    python bench/bench_train.py [--epochs 40] [--hidden 64 32] [--skip-pyg]

Needs the 25m warehouse with a split and features (bench_ingest.py --keep, bench_features.py).
Targets: <= 10 s/epoch, <= 16 GB.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _harness import run_stage, stamp  # noqa: E402

GRAPH = "bench/results/work/graph-25m.pt"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workdir", default="bench/results/work")
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--hidden", type=int, nargs="+", default=[64, 32])
    ap.add_argument("--skip-pyg", action="store_true")
    ap.add_argument("--pyg-epochs", type=int, default=2)
    args = ap.parse_args()
    wh = Path(args.workdir) / "ingest-25m.duckdb"
    stages = [
        run_stage(
            "graph build (DuckDB -> tensors)",
            f"""
import duckdb
from reelgraph.graph_build import build_graph
sid = duckdb.connect({str(wh)!r}, read_only=True).execute("SELECT split_id FROM features.builds ORDER BY built_at DESC LIMIT 1").fetchall()[0][0]
g = build_graph({str(wh)!r}, sid)
g.save({GRAPH!r})
print({{'users': g.n_users, 'movies': g.n_movies, 'train_edges': g.edges['train'].shape[1]}})
""",
        )
    ]
    for hidden in args.hidden:
        stages.append(
            run_stage(
                f"graphsage train, hidden {hidden}, {args.epochs} epochs",
                f"""
import torch
from reelgraph.graph import RatingGraph
from reelgraph.train import TrainConfig, default_model_config, train
g = RatingGraph.load({GRAPH!r})
cfg = TrainConfig(epochs={args.epochs}, eval_every=5, log_every=10, checkpoint_every=1000, device='cpu')
r = train(g, 'bench/results/work/train-h{hidden}', cfg, default_model_config(g, hidden={hidden}, embed_dim={min(32, hidden)}), resume=False)
print({{'s_per_epoch': round(r.seconds_per_epoch, 2), 'train_s': round(r.seconds, 1), 'epochs': r.epochs_run,
        'best_epoch': r.best_epoch, 'val_rmse': round(r.metrics['val']['rmse'], 4), 'test_rmse': round(r.metrics['test']['rmse'], 4),
        'threads': torch.get_num_threads()}})
""",
            )
        )
    last = f"bench/results/work/train-h{args.hidden[-1]}/model.pt"
    stages.append(
        run_stage(
            f"full-catalogue top-20 for every user (hidden {args.hidden[-1]} model)",
            f"""
import time, numpy as np, torch
from reelgraph.graph import RatingGraph
from reelgraph.scoring import Scorer
g = RatingGraph.load({GRAPH!r})
t = time.perf_counter()
s = Scorer.load({last!r}, g, device='cpu')
t_enc = time.perf_counter() - t
n = 0
for top in s.top_k(np.arange(g.n_users), k=20, batch_size=4096):
    n += len(top.users)
print({{'users': n, 'encode_s': round(t_enc, 2), 'total_s': round(time.perf_counter() - t, 2)}})
""",
        )
    )
    if not args.skip_pyg:
        stages.append(
            run_stage(
                f"usual PyG recipe (to_hetero SAGEConv over edge_index + MLP decoder), hidden 64, {args.pyg_epochs} epochs",
                f"""
import sys; sys.path.insert(0, 'bench')
from pyg_recipe import time_epochs
print(time_epochs({GRAPH!r}, epochs={args.pyg_epochs}, hidden=64))
""",
            )
        )
    out = Path("bench/results/train-25m.json")
    out.write_text(json.dumps({**stamp(), "stages": stages}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
