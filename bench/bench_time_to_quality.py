"""Time to quality: every model's validation curve against wall time, side by side, in one run
on one split (2 cores: run it with nothing else on the machine).

    python bench/bench_time_to_quality.py [--dataset ml-latest-small] [--source DIR]
        [--graph graph.pt] [--models graphsage,ease,...] [--budget-min 10]
        [--config FILE] [--max-minutes M]

The split is the one `reelgraph run --dataset D` trains on (ml-latest-small: built from
../shared/data/ml-latest-small, or `--source`; synthetic-25m: `--graph`, the graph.pt a
`reelgraph run` leaves in its checkpoint folder). GraphSAGE trains with the settings `run` would
use (the dataset's config, by the run's own rule of precedence) and is read after every epoch
(validation RMSE of the rating output, NDCG@20 of the ranking encoder on the probe's users);
every baseline is fitted with the settings `run` would give it and read on the same
validation users: a closed-form fit is one point (its fit time), an iterative one (LightGCN,
BPR-MF, MF) a curve of its epochs. `--budget-min` stops LightGCN's and BPR-MF's epochs once that
many minutes have passed (the results say when it did).

Writes bench/results/time-to-quality-<dataset>.json (every curve) and .png (the figure: the
list's NDCG@20 and the rating RMSE against seconds), and prints a markdown summary.
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
sys.path.insert(0, str(ROOT / "bench"))

from helpers import ML_SMALL, WORK, dataset_graph, stamp, table  # noqa: E402

from reelgraph.core.memory import keep_freed_memory  # noqa: E402
from reelgraph.evaluate.baselines import BASELINES, build_baseline  # noqa: E402
from reelgraph.evaluate.probe import ValidationProbe  # noqa: E402
from reelgraph.graph.ratings import RatingGraph  # noqa: E402
from reelgraph.model.saved import default_model_config  # noqa: E402
from reelgraph.model.top_k import scores_into  # noqa: E402
from reelgraph.pipeline.run_spec import RunSpec  # noqa: E402
from reelgraph.train.config import TrainConfig  # noqa: E402
from reelgraph.train.fit import train  # noqa: E402
from reelgraph.tune import run_config  # noqa: E402

BUDGETED = ("lightgcn", "bpr_mf")  # epoch loops with a max_minutes setting
RATING_ONLY = ("global_mean", "bias", "mf")  # rank by predicted rating: read by RMSE too


def graphsage(graph: RatingGraph, dataset: str, config: str | None, minutes: float | None) -> dict:
    """What `reelgraph run --dataset D [--config FILE] [--max-minutes M]` trains."""
    chosen = run_config.resolve(dataset, config, ROOT / "outputs")
    budget = {} if minutes is None else {"max_minutes": minutes}
    model, settings = run_config.graphsage_settings(chosen, RunSpec(device="cpu", train=budget))
    cfg = TrainConfig(**settings, checkpoint_every=10**9)
    WORK.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=WORK) as work, keep_freed_memory():
        t = time.perf_counter()
        r = train(graph, work, cfg, default_model_config(graph, **model), resume=False)
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
        "item_filter": r.item_filter,
        "popularity_penalty": r.popularity_penalty,
    }


def baseline(
    name: str, graph: RatingGraph, probe: ValidationProbe, params: dict, budget_min: float
) -> dict:
    params = {**params, **({"max_minutes": budget_min} if name in BUDGETED else {})}
    t = time.perf_counter()
    rec = build_baseline(name, graph, params or None, seed=0)
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


def figure(results: dict, dataset: str, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (rank_ax, rate_ax) = plt.subplots(1, 2, figsize=(13, 5))
    palette = plt.get_cmap("tab10")  # one colour per model, whether a curve or a point
    for i, (name, r) in enumerate(results.items()):
        curve = r.get("curve") or []
        color = palette(i % 10)
        if name == "graphsage":
            points = [(h["seconds"], h["val_ndcg@20"]) for h in curve if "val_ndcg@20" in h]
            rank_ax.plot(
                *zip(*points, strict=True), lw=2.5, color="black", label="graphsage (encoder)"
            )
            fused = served_ndcg(r)
            if fused != r["best_val_ndcg@20"]:  # the list as served, at the end of training
                rank_ax.scatter(
                    [r["train_seconds"]],
                    [fused],
                    marker="*",
                    s=160,
                    color="black",
                    label="graphsage (the list: + filter channel, popularity penalty)",
                    zorder=5,
                )
            ratings = [(h["seconds"], h["val_rmse"]) for h in curve if "val_rmse" in h]
            rate_ax.plot(*zip(*ratings, strict=True), lw=2.5, color="black", label="graphsage")
        elif curve:  # an epoch loop: ranked by NDCG, or (MF) by RMSE
            key, ax = (
                ("val_ndcg@20", rank_ax) if "val_ndcg@20" in curve[0] else ("val_rmse", rate_ax)
            )
            ax.plot([h["seconds"] for h in curve], [h[key] for h in curve], label=name, color=color)
        else:
            rank_ax.scatter(
                [max(r["fit_seconds"], 0.05)], [r["val_ndcg@20"]], label=name, color=color
            )
    rank_ax.set(
        xscale="log",
        xlabel="seconds of fitting (log)",
        ylabel="validation NDCG@20",
        title=f"The list, {dataset}",
    )
    rate_ax.set(
        xscale="log",
        xlabel="seconds of fitting (log)",
        ylabel="validation RMSE (stars)",
        title=f"Ratings, {dataset}",
    )
    rate_ax.set_ylim(top=min(1.0, rate_ax.get_ylim()[1]))
    for ax in (rank_ax, rate_ax):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def served_ndcg(r: dict) -> float:
    """GraphSAGE's list as served: the encoder's best epoch with the item filter at its chosen
    weight and the popularity penalty at its chosen value (each chosen on validation after
    training, the penalty last); the encoder's best when neither was chosen."""
    for choice, key in (("popularity_penalty", "penalty"), ("item_filter", "weight")):
        chosen = r.get(choice) or {}
        if chosen.get("val_ndcg"):
            return chosen["val_ndcg"][str(float(chosen[key]))]
    return r["best_val_ndcg@20"]


def summary(results: dict) -> str:
    rows = []
    for name, r in results.items():
        if name == "graphsage":
            rows.append(
                {
                    "model": "graphsage",
                    "val NDCG@20": served_ndcg(r),
                    "val RMSE": r["best_val_rmse"],
                    "seconds to best": " / ".join(
                        f"{k} {v:.0f}" for k, v in r["seconds_to_best"].items()
                    ),
                    "seconds in all": f"{r['seconds_with_setup']:.0f}",
                }
            )
        else:
            rows.append(
                {
                    "model": name,
                    "val NDCG@20": r["val_ndcg@20"],
                    "val RMSE": r.get("best_val_rmse"),
                    "seconds to best": f"{r.get('seconds_to_best', r['fit_seconds']):.1f}",
                    "seconds in all": f"{r['fit_seconds']:.1f}",
                }
            )
    columns = ["model", "val NDCG@20", "val RMSE", "seconds to best", "seconds in all"]
    return table(rows, columns)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", default="ml-latest-small", help="whose config `run` would use")
    ap.add_argument("--source", default=str(ML_SMALL), help="the release folder (no --graph)")
    ap.add_argument("--graph", default=None, help="a graph.pt instead (synthetic 25m: required)")
    ap.add_argument("--models", default="graphsage," + ",".join(BASELINES))
    ap.add_argument("--budget-min", type=float, default=10.0)
    ap.add_argument("--config", default=None, help="default: the dataset's, as `run` picks it")
    ap.add_argument("--max-minutes", type=float, default=None, help="GraphSAGE's budget")
    args = ap.parse_args()
    graph = (
        RatingGraph.load(args.graph)
        if args.graph
        else dataset_graph(Path(args.source), args.dataset)
    )
    probe = ValidationProbe.build(graph)  # the validation users GraphSAGE selects on
    chosen = run_config.resolve(args.dataset, args.config, ROOT / "outputs")
    results = {}
    for name in args.models.split(","):
        results[name] = (
            graphsage(graph, args.dataset, args.config, args.max_minutes)
            if name == "graphsage"
            else baseline(name, graph, probe, chosen.baselines.get(name, {}), args.budget_min)
        )
        brief = {k: v for k, v in results[name].items() if k != "curve"}
        print(name, json.dumps(brief, default=str), flush=True)
    out = ROOT / "bench" / "results" / f"time-to-quality-{args.dataset}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"stamp": stamp(), "results": results}, indent=2, default=str))
    png = figure(results, args.dataset, out.with_suffix(".png"))
    print(summary(results))
    print(f"wrote {out} and {png}")


if __name__ == "__main__":
    main()
