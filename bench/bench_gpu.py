"""GPU benchmark for a lent device (torch + PyG + numpy only): builds the synthetic 25m graph in
memory, times training epochs and full-catalogue top-20 for every user.

    python bench/bench_gpu.py --preset 25m --epochs 200 [--hidden 64]

Targets (issue 4/5): <= 0.2 s/epoch on the full 25m graph, 200 epochs <= 60 s; top-20 for all
users <= 10 s.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from reelgraph.model.saved import default_model_config  # noqa: E402
from reelgraph.model.scoring import Scorer  # noqa: E402
from reelgraph.synthetic.graph import make_graph  # noqa: E402
from reelgraph.train.config import TrainConfig  # noqa: E402
from reelgraph.train.fit import train  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="25m")
    ap.add_argument("--epochs", type=int, default=200)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--out", default="bench/results/gpu.json")
    args = ap.parse_args()
    t = time.perf_counter()
    g = make_graph(args.preset)
    build_s = time.perf_counter() - t
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    cfg = TrainConfig(
        epochs=args.epochs, patience=10**9, eval_every=10, checkpoint_every=10**9, device=dev
    )
    r = train(
        g, "bench/results/work/gpu", cfg, default_model_config(g, hidden=args.hidden), resume=False
    )
    scorer = Scorer.load(r.model_path, g, dev)
    if dev == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    n = sum(len(top.users) for top in scorer.top_k(np.arange(g.n_users), k=20, batch_size=16384))
    if dev == "cuda":
        torch.cuda.synchronize()
    result = {
        "device": torch.cuda.get_device_name() if dev == "cuda" else "cpu",
        "graph_build_s": round(build_s, 1),
        "epochs": r.epochs_run,
        "train_s": round(r.seconds, 2),
        "s_per_epoch": round(r.seconds_per_epoch, 4),
        "top20_all_users_s": round(time.perf_counter() - t, 2),
        "users": n,
        "val_rmse": r.metrics["val"]["rmse"],
        "peak_gpu_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2)
        if dev == "cuda"
        else None,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
