"""Capacity (issue 16): each pipeline stage's wall time and peak memory on the synthetic presets
of growing size (small, a quarter of 25m, 25m), each stage in a fresh child process, so the
slopes against users, movies and ratings can be read off and carried to 100M and 1B ratings.

    python bench/bench_capacity.py --presets small,quarter-25m,25m

Stages, as the pipeline runs them: ingest (the generated CSVs into a new warehouse), split +
features, the graph, GraphSAGE training (one fixed epoch at TrainConfig's defaults, validation
left out: an epoch's cost), the evaluation of each model the pipeline evaluates at that size
(a baseline's fit and its top-20 for every user; GraphSAGE's scoring), and the published lists
(top-20 and least-relevant 20 of every user, with explanations, and the embeddings). Synthetic
data generation is setup, not a stage.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from helpers import run_stage, stamp  # noqa: E402


def _stages(preset: str, work: Path) -> list[tuple[str, str]]:
    """(name, child code) of each stage; later stages read what earlier ones wrote."""
    data, wh, cache = work / "data", work / "w.duckdb", work / "cache"
    graph, model = work / "graph.pt", work / "model"
    split_id = work / "split_id"
    header = "from reelgraph.graph.ratings import RatingGraph\n"
    return [
        (
            "ingest",
            "from reelgraph.ingest.datasets import acquire\nfrom reelgraph.ingest.load import ingest\n"
            f"ingest(acquire('synthetic-{preset}', source={str(data)!r}, "
            f"cache_dir={str(cache)!r}), {str(wh)!r})",
        ),
        (
            "split + features",
            "from pathlib import Path\nfrom reelgraph.features.split import make_split, SplitParams\n"
            "from reelgraph.features.tables import build_features\n"
            f"s = make_split({str(wh)!r}, SplitParams(seed=0), force=True)\n"
            f"build_features({str(wh)!r}, s.split_id, force=True)\n"
            f"Path({str(split_id)!r}).write_text(s.split_id)",
        ),
        (
            "graph",
            "from pathlib import Path\nfrom reelgraph.features.graph import build_graph\n"
            f"g = build_graph({str(wh)!r}, Path({str(split_id)!r}).read_text())\n"
            f"g.save({str(graph)!r})\n"
            "print({'users': g.n_users, 'movies': g.n_movies, "
            "'train_ratings': int(g.part('train')[0].numel()), "
            "'ratings': sum(int(e.shape[1]) for e in g.edges.values())})",
        ),
        (
            "train (1 epoch)",
            header + "from reelgraph.train.fit import train\n"
            "from reelgraph.train.config import TrainConfig\n"
            f"r = train(RatingGraph.load({str(graph)!r}), {str(model)!r}, "
            "TrainConfig(device='cpu', max_minutes=None), fixed_epochs=(1, 1))\n"
            f"open({str(work / 'model_path')!r}, 'w').write(r.model_path)\n"
            "print({'epoch_s': round(r.history[-1]['seconds'], 2)})",
        ),
    ]


def _evaluate_stage(name: str, work: Path) -> tuple[str, str]:
    return (
        f"evaluate: {name}",
        "from reelgraph.graph.ratings import RatingGraph\nfrom reelgraph.evaluate.comparison import evaluate_model\n"
        "from reelgraph.evaluate.protocol import merge\n"
        f"g = RatingGraph.load({str(work / 'graph.pt')!r})\n"
        f"model = open({str(work / 'model_path')!r}).read()\n"
        f"r = merge([evaluate_model({name!r}, g, model, device='cpu')])\n"
        "print({'ndcg@20': round(r.metrics[('ndcg', 20)], 4)})",
    )


def _publish_stage(work: Path) -> tuple[str, str]:
    return (
        "publish: lists + embeddings",
        "from reelgraph.graph.ratings import RatingGraph\nfrom reelgraph.serve.list_files import prepare_run\n"
        f"g = RatingGraph.load({str(work / 'graph.pt')!r})\n"
        f"model = open({str(work / 'model_path')!r}).read()\n"
        f"p = prepare_run(g, model, {str(work / 'run')!r}, k=20, device='cpu')\n"
        "print({'rows': p.recommendations})",
    )


def _models(work: Path) -> list[str]:
    """The models the pipeline evaluates on this graph (comparison.models_to_compare)."""
    out = run_stage(
        "plan (setup)",
        "from reelgraph.graph.ratings import RatingGraph\nfrom reelgraph.evaluate import comparison\n"
        f"print(list(comparison.models_to_compare(RatingGraph.load({str(work / 'graph.pt')!r}), "
        "None)[0]))",
    )
    return eval(out["output"])  # noqa: S307 - our own child's printed list


PROJECT_TO = (100_000_000, 1_000_000_000)


def _fmt_s(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.1f} min" if seconds >= 120 else f"{seconds:.0f} s"


def table(results: list[dict]) -> str:
    """Each stage's wall time and peak RSS per preset, the slope between the two largest presets
    per million ratings (same catalogue, users and ratings scaled together), and that line
    carried on to 100M and 1B ratings: an estimate on paper, from these measurements."""
    big, small = results[-1], results[-2]
    per_m = (big["ratings"] - small["ratings"]) / 1e6
    head = " | ".join(f"{r['preset']} ({r['ratings'] / 1e6:.2f}M)" for r in results)
    proj = " | ".join(f"{n / 1e6:,.0f}M (est.)" for n in PROJECT_TO)
    lines = [
        f"| stage | {head} | slope per 1M ratings | {proj} |",
        "|---" * (len(results) + 2 + len(PROJECT_TO)) + "|",
    ]
    rows = {r["preset"]: {s["stage"]: s for s in r["stages"]} for r in results}
    for stage in [s["stage"] for s in big["stages"]]:
        cells = [
            f"{rows[r['preset']][stage]['wall_s']:.0f} s, {rows[r['preset']][stage]['peak_rss_gib']:.1f} GiB"
            if stage in rows[r["preset"]]
            else "—"
            for r in results
        ]
        a, b = rows[small["preset"]].get(stage), rows[big["preset"]][stage]
        if a is None:
            lines.append(f"| {stage} | {' | '.join(cells)} | — |" + " — |" * len(PROJECT_TO))
            continue
        dt = (b["wall_s"] - a["wall_s"]) / per_m
        dm = (b["peak_rss_gib"] - a["peak_rss_gib"]) / per_m
        est = [
            (
                b["wall_s"] + dt * (n - big["ratings"]) / 1e6,
                b["peak_rss_gib"] + dm * (n - big["ratings"]) / 1e6,
            )
            for n in PROJECT_TO
        ]
        lines.append(
            f"| {stage} | {' | '.join(cells)} | {dt:+.2f} s, {dm:+.3f} GiB | "
            + " | ".join(f"{_fmt_s(t)}, {m:.0f} GiB" for t, m in est)
            + " |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--presets", default="small,quarter-25m,25m")
    ap.add_argument("--workdir", default="bench/results/work/capacity")
    ap.add_argument("--out", default="bench/results/capacity.json")
    ap.add_argument("--table", action="store_true", help="print the table of --out and stop")
    args = ap.parse_args()
    if args.table:
        print(table(json.loads(Path(args.out).read_text())["presets"]))
        return
    results = []
    for preset in args.presets.split(","):
        work = Path(args.workdir).resolve() / preset
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        run_stage(
            f"generate {preset} (setup)",
            f"from reelgraph.synthetic.generator import generate\n"
            f"generate({preset!r}, {str(work / 'data')!r}, seed=0)",
        )
        stages = [run_stage(name, code) for name, code in _stages(preset, work)]
        shape = eval(stages[2]["output"])  # noqa: S307 - the graph stage's own printed dict
        stages += [run_stage(*_evaluate_stage(m, work)) for m in _models(work)]
        stages.append(run_stage(*_publish_stage(work)))
        results.append({"preset": preset, **shape, "stages": stages})
        shutil.rmtree(work / "data", ignore_errors=True)  # the CSVs: gigabytes at 25m
        Path(args.out).write_text(json.dumps({**stamp(), "presets": results}, indent=2))
    print(f"wrote {args.out}")
    print(table(results))


if __name__ == "__main__":
    main()
