"""Ours vs the usual PyG recipe, seconds per epoch on the same graph (issue 4).

The usual recipe (bench/pyg_recipe.py) runs out of 24 GiB on the full synthetic 25m graph, so
this compares both on the subgraph of the first `--fraction` of users (all their ratings).

    python bench/bench_pyg_ratio.py [--fraction 0.25] [--epochs 2]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from helpers import run_stage, stamp  # noqa: E402

GRAPH = "bench/results/work/graph-25m.pt"
SUB = "bench/results/work/graph-25m-sub.pt"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fraction", type=float, default=0.25)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--hidden", type=int, default=64)
    args = ap.parse_args()
    stages = [
        run_stage(
            "subgraph",
            f"""
import dataclasses, torch
from reelgraph.graph.ratings import RatingGraph
g = RatingGraph.load({GRAPH!r})
n = int(g.n_users * {args.fraction})
edges = {{k: e[:, e[0] < n] for k, e in g.edges.items()}}
sub = dataclasses.replace(g, user_ids=g.user_ids[:n], x_user=g.x_user[:n], edges=edges)
sub.save({SUB!r})
print({{'users': n, 'train_edges': edges['train'].shape[1]}})
""",
        ),
        run_stage(
            f"ours, hidden {args.hidden}",
            f"""
from reelgraph.graph.ratings import RatingGraph
from reelgraph.model.saved import default_model_config
from reelgraph.train.fit import train
from reelgraph.train.config import TrainConfig
g = RatingGraph.load({SUB!r})
import time, torch
from reelgraph.graph.sparse import BipartiteAdjacency
from reelgraph.model.recommender import GraphSAGERecommender, message_graph
cfg = default_model_config(g, hidden={args.hidden})
model = GraphSAGERecommender(cfg)
opt = torch.optim.AdamW(model.parameters(), lr=0.005)
u, m, r = g.part('train')
adj = BipartiteAdjacency.build(u, m, g.n_users, g.n_movies)
u, m, r = adj.users, adj.movies, adj.canonical(r)
dev = adj.weights(r - cfg.global_mean)
times = []
for epoch in range({args.epochs} + 1):
    t = time.perf_counter()
    keep = torch.rand(u.numel()) < 0.75
    enc = model.encode(g.x_user, g.x_movie, message_graph(adj, keep, dev))
    sup = ~keep
    loss = torch.mean((model.predict(enc, u[sup], m[sup]) - r[sup]) ** 2)
    opt.zero_grad(); loss.backward(); opt.step()
    times.append(time.perf_counter() - t)
print({{'s_per_epoch': round(sum(times[1:]) / {args.epochs}, 2), 'note': 'MSE step only (no BPR), first epoch excluded as warm-up'}})
""",
        ),
        run_stage(
            f"usual PyG recipe, hidden {args.hidden}",
            f"""
import sys; sys.path.insert(0, 'bench')
from pyg_recipe import time_epochs
print(time_epochs({SUB!r}, epochs={args.epochs}, hidden={args.hidden}))
""",
        ),
    ]
    out = Path("bench/results/pyg-ratio.json")
    out.write_text(json.dumps({**stamp(), "fraction": args.fraction, "stages": stages}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
