"""GPU benchmark for a lent device (torch + PyG + numpy only): builds a synthetic graph in memory,
trains both outputs by the run's own stopping rules (the preset's shipped config when there is
one, as `reelgraph run` would), then times full-catalogue top-20 for every user.

    python bench/bench_gpu.py --preset 25m [--max-minutes 6] [--device cuda]

Prints one JSON line every `log_every` (10) epochs as it trains, so a cut-off run still shows
its curve, and the result as the last line, also written to --out. Figures: bench/BENCHMARKS.md,
"the first GPU run".
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
from reelgraph.model.saved import default_model_config, select_device  # noqa: E402
from reelgraph.model.scoring import Scorer  # noqa: E402
from reelgraph.synthetic.graph import make_graph  # noqa: E402
from reelgraph.train.config import TrainConfig  # noqa: E402
from reelgraph.train.fit import train  # noqa: E402
from reelgraph.tune import run_config  # noqa: E402


def _synced(device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="25m")
    ap.add_argument("--device", default="auto")
    ap.add_argument(
        "--max-minutes", type=float, default=None, help="training budget (default: the config's)"
    )
    ap.add_argument("--out", default="bench/results/gpu.json")
    args = ap.parse_args()
    device = select_device(args.device)
    t = time.perf_counter()
    g = make_graph(args.preset)
    build_s = time.perf_counter() - t
    shipped = run_config.read_shipped(f"synthetic-{args.preset}")
    model_set, train_set = dict(shipped.model), dict(shipped.train)
    train_set["device"] = str(device)
    if args.max_minutes is not None:
        train_set["max_minutes"] = args.max_minutes
    cfg = TrainConfig(**train_set)

    def show(row: dict) -> None:
        print(json.dumps({k: v for k, v in row.items() if not isinstance(v, dict)}), flush=True)

    work = Path("bench/results/work") / f"gpu-{args.preset}"
    r = train(g, work, cfg, default_model_config(g, **model_set), resume=False, progress=show)
    assert r is not None
    scorer = Scorer.load(r.model_path, g, device)
    t = _synced(device)
    n = sum(len(top.users) for top in scorer.top_k(np.arange(g.n_users), k=20, batch_size=16384))
    top_s = _synced(device) - t
    result = {
        "preset": args.preset,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "torch": torch.__version__,
        "settings": train_set | {"model": model_set},
        "graph_build_s": round(build_s, 1),
        "train_edges": int(g.part("train")[0].numel()),
        "epochs": r.epochs_run,
        "best_epoch_rating": r.best_epoch,
        "best_epoch_ranking": r.best_rank_epoch,
        "seconds_to_best": {k: round(v, 1) for k, v in r.seconds_to_best.items()},
        "stopped_by_budget": r.stopped_by_budget,
        "train_s": round(r.seconds, 1),
        "validation_s": round(r.eval_seconds, 1),
        "s_per_epoch": round(r.seconds_per_epoch, 3),
        "val_rmse": round(r.metrics["val"]["rmse"], 4),
        "val_ndcg@20": None if r.best_val_ndcg is None else round(r.best_val_ndcg, 4),
        "top20_all_users_s": round(top_s, 2),
        "users": n,
        "peak_gpu_gib": round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
        if device.type == "cuda"
        else None,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
