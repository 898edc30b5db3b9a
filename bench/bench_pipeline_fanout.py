"""The whole pipeline fanned out on a local Dask cluster (issue 16): `reelgraph run` in one
process against `reelgraph run --workers N`, one after the other in one run, on the same
synthetic source, each into an empty warehouse; the wall time of each, each stage's (the
pipeline's own timings), the ratios, and whether both recorded the same test metrics.

    python bench/bench_pipeline_fanout.py --preset 25m --workers 2 -- --epochs 1

Arguments after `--` go to both `reelgraph run`s (above: one training epoch, so the run is
about the stages that fan out; training runs in the flow's process either way). Each run's
log is kept beside the result.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from helpers import agreement, run_metrics, stamp

WORK = Path("bench/results/work/pipeline-fanout")


def source(preset: str) -> Path:
    """The synthetic MovieLens-shaped files of the preset, generated once and kept (written
    beside and renamed, so a stopped generation is never taken for a whole one)."""
    out = Path("bench/results/work") / f"syn-{preset}"
    if not out.exists():
        partial = out.with_name(out.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        _reelgraph("generate", "--preset", preset, "--out", str(partial))
        partial.rename(out)
    return out


def _reelgraph(*args: str, log: Path | None = None) -> str:
    cli = Path(sys.executable).parent / "reelgraph"
    with open(log, "w") if log else contextlib.nullcontext(subprocess.DEVNULL) as err:
        proc = subprocess.run([str(cli), *args], stdout=subprocess.PIPE, stderr=err, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"reelgraph {' '.join(args)} failed ({proc.returncode}); log: {log}")
    return proc.stdout


def pipeline(name: str, preset: str, src: Path, extra: list[str]) -> dict:
    work = WORK / name
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    t = time.perf_counter()
    out = _reelgraph(
        "run",
        "--dataset",
        f"synthetic-{preset}",
        "--source",
        str(src),
        "--warehouse",
        str(work / "reelgraph.duckdb"),
        "--outputs",
        str(work / "outputs"),
        "--json",
        *extra,
        log=work / "run.log",
    )
    wall = round(time.perf_counter() - t, 1)
    result = json.loads(out[out.index("{") :])
    timings = {stage: round(s, 1) for stage, s in result["timings"].items()}
    print(json.dumps({"pipeline": name, "wall_s": wall, "stages_s": timings}), flush=True)
    return {"wall_s": wall, "stages_s": timings, "warehouse": work / "reelgraph.duckdb"}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="25m")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default="bench/results/pipeline-fanout.json")
    ap.add_argument("run_args", nargs="*", help="after --: arguments for both runs")
    args = ap.parse_args()
    src = source(args.preset)
    one = pipeline("in-process", args.preset, src, args.run_args)
    many = pipeline(
        f"workers-{args.workers}",
        args.preset,
        src,
        [*args.run_args, "--workers", str(args.workers)],
    )
    result = {
        **stamp(),
        "preset": args.preset,
        "run_args": args.run_args,
        "workers": args.workers,
        "in_process": {k: v for k, v in one.items() if k != "warehouse"},
        "with_workers": {k: v for k, v in many.items() if k != "warehouse"},
        "ratio_whole": round(one["wall_s"] / many["wall_s"], 2),
        "ratio_by_stage": {
            stage: round(s / many["stages_s"][stage], 2)
            for stage, s in one["stages_s"].items()
            if many["stages_s"].get(stage)
        },
        **agreement(run_metrics(one["warehouse"]), run_metrics(many["warehouse"])),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
