"""Benchmark: GraphSAGE training on synthetic 25m on CPU (issue 4), and the usual PyG recipe
on the same graph for comparison.

    python bench/bench_train.py [--epochs 10] [--hidden 64 32] [--skip-pyg]
    python bench/bench_train.py --full 64          # train to early stopping (tens of minutes)

Needs the 25m warehouse with a split and features (bench_ingest.py --keep, bench_features.py).
Training runs with the pipeline's settings (TrainConfig defaults: validation RMSE and NDCG@20
every epoch), so seconds per epoch include validation; the training step alone is reported too.
Targets: <= 10 s/epoch, <= 16 GB.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from helpers import run_stage, stamp  # noqa: E402

GRAPH = "bench/results/work/graph-25m.pt"

TRAIN = """
import torch
from reelgraph.graph.ratings import RatingGraph
from reelgraph.model.saved import default_model_config
from reelgraph.train.fit import train
from reelgraph.train.config import TrainConfig
g = RatingGraph.load({graph!r})
cfg = TrainConfig(device='cpu', checkpoint_every={checkpoint_every}, {overrides})
r = train(g, {out!r}, cfg, default_model_config(g, hidden={hidden}), resume=False)
n = r.epochs_run
print({{'epochs': n, 's_per_epoch': round(r.seconds_per_epoch, 2),
        'step_s_per_epoch': round((r.seconds - r.eval_seconds) / n, 2),
        'validation_s_per_epoch': round(r.eval_seconds / n, 2), 'train_s': round(r.seconds, 1),
        'best_rating_epoch': r.best_epoch, 'best_ranking_epoch': r.best_rank_epoch,
        'stopped_early': r.stopped_early,
        'val_rmse': round(r.metrics['val']['rmse'], 4), 'test_rmse': round(r.metrics['test']['rmse'], 4),
        'best_val_ndcg@20': round(max(h.get('val_ndcg@20', 0) for h in r.history), 4),
        'threads': torch.get_num_threads()}})
"""


def train_stage(hidden: int, epochs: int | None) -> dict:
    """`epochs` None: the default TrainConfig (500 at most, early stopping) - a full training."""
    overrides = "" if epochs is None else f"epochs={epochs}, patience=10**9"
    label = "to early stopping" if epochs is None else f"{epochs} epochs"
    return run_stage(
        f"graphsage train, hidden {hidden}, {label}",
        TRAIN.format(
            graph=GRAPH,
            out=f"bench/results/work/train-h{hidden}",
            hidden=hidden,
            overrides=overrides,
            checkpoint_every=10 if epochs is None else 10**9,
        ),
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workdir", default="bench/results/work")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--hidden", type=int, nargs="+", default=[64, 32])
    ap.add_argument("--full", type=int, metavar="HIDDEN", help="only: train to early stopping")
    ap.add_argument("--skip-pyg", action="store_true")
    ap.add_argument("--pyg-epochs", type=int, default=2)
    ap.add_argument("--pyg-memory-gib", type=float, default=20.0)
    args = ap.parse_args()
    wh = Path(args.workdir) / "ingest-25m.duckdb"
    stages = []
    if not Path(GRAPH).exists() or args.full is None:
        stages.append(
            run_stage(
                "graph build (DuckDB -> tensors)",
                f"""
import duckdb
from reelgraph.features.graph import build_graph
sid = duckdb.connect({str(wh)!r}, read_only=True).execute("SELECT split_id FROM features.builds ORDER BY built_at DESC LIMIT 1").fetchall()[0][0]
g = build_graph({str(wh)!r}, sid)
g.save({GRAPH!r})
print({{'users': g.n_users, 'movies': g.n_movies, 'train_edges': g.edges['train'].shape[1]}})
""",
            )
        )
    if args.full is not None:
        stages.append(train_stage(args.full, None))
        out = Path(f"bench/results/train-25m-full-h{args.full}.json")
        out.write_text(json.dumps({**stamp(), "stages": stages}, indent=2))
        print(f"wrote {out}")
        return
    for hidden in args.hidden:
        stages.append(train_stage(hidden, args.epochs))
    last = f"bench/results/work/train-h{args.hidden[-1]}/model.pt"
    stages.append(
        run_stage(
            f"full-catalogue top-20 for every user (hidden {args.hidden[-1]} model)",
            f"""
import time, numpy as np, torch
from reelgraph.graph.ratings import RatingGraph
from reelgraph.model.scoring import Scorer
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
        # On the whole graph the recipe materialises one message per edge, per layer and
        # direction; capped, it fails with its own MemoryError (bench_pyg_ratio.py compares both
        # on a subgraph where it fits).
        stages.append(
            run_stage(
                f"usual PyG recipe (to_hetero SAGEConv over edge_index + MLP decoder), hidden 64, {args.pyg_epochs} epochs",
                f"""
import sys; sys.path.insert(0, 'bench')
from pyg_recipe import time_epochs
print(time_epochs({GRAPH!r}, epochs={args.pyg_epochs}, hidden=64))
""",
                memory_limit_gib=args.pyg_memory_gib,
                may_fail=True,
            )
        )
    out = Path("bench/results/train-25m.json")
    out.write_text(json.dumps({**stamp(), "stages": stages}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
