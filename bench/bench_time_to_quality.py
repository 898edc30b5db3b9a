"""Time to quality on synthetic 25m (CPU): GraphSAGE's validation curve against wall time, and
the baselines' on the same split.

    python bench/bench_time_to_quality.py [--graph bench/results/work/graph-25m.pt]
        [--models graphsage,mf,ease,ials,lightgcn] [--budget-min 10]
        [--config FILE] [--max-minutes 18]

Needs the 25m graph (bench_ingest.py --keep, bench_features.py, then this script builds and
keeps graph-25m.pt; or `--graph` the graph.pt a `reelgraph run` leaves in its checkpoint
folder). GraphSAGE trains with the settings `reelgraph run --dataset synthetic-25m` uses at its
defaults (the dataset's shipped config; validation every epoch, each output stopping on its own
patience), under `--max-minutes` (default: the run's) so that a longer budget shows whether the
best came before it ended; every other model is fitted
with its defaults and read on the same validation users (NDCG@20, whole catalogue) after each
of its epochs. `--budget-min` stops LightGCN's and BPR-MF's epochs once that many minutes have
passed (the results say when it did): at 25m on CPU they are far from converged in any budget
this benchmark can afford, and `reelgraph run` leaves them out there.
Results: bench/results/time-to-quality-25m.json (every curve) and a markdown summary.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from reelgraph.core.memory import keep_freed_memory  # noqa: E402
from reelgraph.evaluate.baselines import build_baseline  # noqa: E402
from reelgraph.evaluate.probe import ValidationProbe  # noqa: E402
from reelgraph.graph.ratings import RatingGraph  # noqa: E402
from reelgraph.model.saved import default_model_config  # noqa: E402
from reelgraph.model.top_k import scores_into  # noqa: E402
from reelgraph.pipeline.run_spec import RunSpec  # noqa: E402
from reelgraph.train.config import TrainConfig  # noqa: E402
from reelgraph.train.fit import train  # noqa: E402
from reelgraph.tune import run_config  # noqa: E402

WORK = ROOT / "bench" / "results" / "work"
DATASET = "synthetic-25m"  # whose config GraphSAGE trains with


def ensure_graph(path: Path) -> RatingGraph:
    if not path.exists():
        import duckdb

        from reelgraph.features.graph import build_graph

        wh = WORK / "ingest-25m.duckdb"
        with duckdb.connect(str(wh), read_only=True) as con:
            (split_id,) = con.execute(
                "SELECT split_id FROM staging.splits WHERE protocol = 'random' LIMIT 1"
            ).fetchall()[0]
        build_graph(wh, split_id).save(path)
    return RatingGraph.load(path)


def graphsage(graph: RatingGraph, config: str | None, max_minutes: float | None) -> dict:
    # What `reelgraph run --dataset synthetic-25m [--config FILE] [--max-minutes M]` trains,
    # by the run's own rule of precedence (code defaults < config file < the run's settings).
    chosen = run_config.resolve(DATASET, config, ROOT / "outputs")
    budget = {} if max_minutes is None else {"max_minutes": max_minutes}
    model, settings = run_config.graphsage_settings(chosen, RunSpec(device="cpu", train=budget))
    cfg = TrainConfig(**settings, checkpoint_every=10**9)
    with tempfile.TemporaryDirectory(dir=WORK) as work, keep_freed_memory():
        t = time.perf_counter()
        r = train(graph, work, cfg, default_model_config(graph, **model))
        total = time.perf_counter() - t
    return {
        "config": chosen.path,
        "max_minutes": cfg.max_minutes,
        "stopped_by_budget": r.stopped_by_budget,
        "curve": r.history,
        "best_val_ndcg@20": r.best_val_ndcg,
        "best_val_rmse": r.metrics["val"]["rmse"],
        "seconds_to_best": r.seconds_to_best,
        "train_seconds": r.seconds,
        "seconds_with_setup": total,
        "epochs": r.epochs_run,
        "best_epochs": {"rating": r.best_epoch, "ranking": r.best_rank_epoch},
        "test_rmse": r.metrics["test"]["rmse"],
    }


BUDGETED = ("lightgcn", "bpr_mf")  # epoch loops with a max_minutes setting


def baseline(name: str, graph: RatingGraph, probe: ValidationProbe, budget_min: float) -> dict:
    t = time.perf_counter()
    rec = build_baseline(name, graph, {"max_minutes": budget_min} if name in BUDGETED else None)
    fit = time.perf_counter() - t
    ndcg = probe.ndcg(scores_into(rec), graph.n_movies)
    curve = getattr(rec, "history", [])
    out = {"fit_seconds": fit, "val_ndcg@20": ndcg, "curve": curve}
    if name in BUDGETED:
        out["stopped_by_budget"] = rec.stopped_by_budget
    if curve and "val_ndcg@20" in curve[0]:
        best = max(curve, key=lambda h: h["val_ndcg@20"])
        out["seconds_to_best"] = best["seconds"]
    if curve and "val_rmse" in curve[0]:
        best = min(curve, key=lambda h: h["val_rmse"])
        out["best_val_rmse"], out["seconds_to_best"] = best["val_rmse"], best["seconds"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--graph", default=str(WORK / "graph-25m.pt"))
    ap.add_argument("--models", default="graphsage,mf,ease,ials,lightgcn")
    ap.add_argument("--budget-min", type=float, default=10.0)
    ap.add_argument("--config", default=None, help="default: the dataset's, as `run` picks it")
    ap.add_argument("--max-minutes", type=float, default=None, help="GraphSAGE's budget")
    args = ap.parse_args()
    graph = ensure_graph(Path(args.graph))
    probe = ValidationProbe.build(graph)  # the 4,096 validation users GraphSAGE selects on
    results = {}
    for name in args.models.split(","):
        results[name] = (
            graphsage(graph, args.config, args.max_minutes)
            if name == "graphsage"
            else baseline(name, graph, probe, args.budget_min)
        )
        brief = {k: v for k, v in results[name].items() if k != "curve"}
        print(name, json.dumps(brief, default=str), flush=True)
    out = ROOT / "bench" / "results" / "time-to-quality-25m.json"
    out.write_text(json.dumps(results, indent=2, default=str))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
