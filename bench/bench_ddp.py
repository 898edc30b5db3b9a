"""Training across processes (issue 16): seconds per epoch with --nproc N against one process,
on the synthetic graph built in memory (torch / PyG / numpy only, so it also runs on a GPU
machine). Epochs are refit-style (fixed count, no validation) so only training is timed.

    python bench/bench_ddp.py --preset 25m --epochs 3 --nproc 1,2
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from reelgraph.synthetic.graph import make_graph  # noqa: E402
from reelgraph.train.config import TrainConfig  # noqa: E402
from reelgraph.train.fit import train  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="25m")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--nproc", default="1,2", help="world sizes to time, in this order")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--out", default="bench/results/ddp.json")
    args = ap.parse_args()
    t = time.perf_counter()
    graph = make_graph(args.preset)
    build_s = time.perf_counter() - t
    work = Path("bench/results/work/ddp")
    base = TrainConfig(device=args.device, max_minutes=None)
    runs = []
    for nproc in (int(n) for n in args.nproc.split(",")):
        shutil.rmtree(work, ignore_errors=True)
        cfg = dataclasses.replace(base, nproc=nproc)
        r = train(graph, work, cfg, resume=False, fixed_epochs=(args.epochs, args.epochs))
        assert r is not None
        runs.append(
            {
                "nproc": nproc,
                "epochs": r.epochs_run,
                "s_per_epoch": round(r.seconds_per_epoch, 2),
                "train_rmse_last": r.history[-1].get("train_rmse"),
            }
        )
        print(json.dumps(runs[-1]), flush=True)
    one = runs[0]["s_per_epoch"]
    result = {
        "preset": args.preset,
        "device": torch.cuda.get_device_name() if r.device.startswith("cuda") else "cpu",
        "graph_build_s": round(build_s, 1),
        "train_edges": int(graph.edges["train"].shape[1]),
        "runs": runs,
        "speedup_vs_first": {str(x["nproc"]): round(one / x["s_per_epoch"], 2) for x in runs},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
