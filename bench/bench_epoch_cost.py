"""What one rating-only training epoch costs, and its validation: the preset's shipped settings,
a fixed number of epochs after a first (warm-up) one, on a graph file (a run's
`checkpoints/<split>-<key>/graph.pt`) or a synthetic preset's graph built in memory.

    python bench/bench_epoch_cost.py --graph OUT/checkpoints/random-.../graph.pt
    python bench/bench_epoch_cost.py --preset small --epochs 3

Run it for two commits in turn (old, new, old, new) to compare them in one window: the
machine's speed drifts by a fifth over a day (bench/BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reelgraph.core.memory import keep_freed_memory  # noqa: E402
from reelgraph.graph.ratings import RatingGraph  # noqa: E402
from reelgraph.model.saved import default_model_config  # noqa: E402
from reelgraph.synthetic.graph import make_graph  # noqa: E402
from reelgraph.train.config import TrainConfig  # noqa: E402
from reelgraph.train.loop import Trainer  # noqa: E402
from reelgraph.train.selection import TrainState  # noqa: E402
from reelgraph.tune import run_config  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--graph", help="a run's graph.pt (default: the preset's, built in memory)")
    ap.add_argument("--preset", default="25m", help="whose shipped settings (and graph) to use")
    ap.add_argument("--epochs", type=int, default=3, help="timed epochs, after one untimed")
    args = ap.parse_args()
    graph = RatingGraph.load(args.graph) if args.graph else make_graph(args.preset)
    shipped = run_config.read_shipped(f"synthetic-{args.preset}")
    cfg = TrainConfig(**shipped.train)
    model_cfg = default_model_config(graph, **{**shipped.model, "rank_head": False})
    with keep_freed_memory(), TemporaryDirectory() as work:
        trainer = Trainer(graph, Path(work), cfg, model_cfg, None)
        state = TrainState()
        state.ranking.done = True  # the rating output alone
        trainer._epoch(1, state)
        for epoch in range(2, args.epochs + 2):
            t = time.perf_counter()
            trainer._epoch(epoch, state)
            trained = time.perf_counter() - t
            t = time.perf_counter()
            trainer._validate(epoch, state, {}, 0.0)
            print(
                f"epoch {epoch}: {trained:.2f} s training ({cfg.rating_max_steps} steps at most), "
                f"{time.perf_counter() - t:.2f} s validation",
                flush=True,
            )


if __name__ == "__main__":
    main()
