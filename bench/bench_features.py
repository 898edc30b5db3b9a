"""Benchmark: split + features on synthetic 25m (issue 3). Targets: <= 60 s, <= 8 GB on 2 cores.

    python bench/bench_features.py [--workdir bench/results/work]

Generates and ingests the 25m preset first when the workdir has no warehouse from bench_ingest
(run that with --keep to reuse it).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from helpers import run_stage, stamp  # noqa: E402


def ensure_warehouse(work: Path, preset: str = "25m") -> Path:
    data, wh = work / f"syn-{preset}", work / f"ingest-{preset}.duckdb"
    if not wh.exists():
        run_stage(
            "generate (setup)",
            f"from reelgraph.synthetic.generator import generate\ngenerate({preset!r}, {str(data)!r}, seed=0)",
        )
        run_stage(
            "ingest (setup)",
            f"from reelgraph.ingest.datasets import acquire\nfrom reelgraph.ingest.load import ingest\n"
            f"ingest(acquire('synthetic-{preset}', source={str(data)!r}, cache_dir={str(work / 'cache')!r}), {str(wh)!r})",
        )
    return wh


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workdir", default="bench/results/work")
    args = ap.parse_args()
    work = Path(args.workdir).resolve()
    work.mkdir(parents=True, exist_ok=True)
    wh = ensure_warehouse(work)
    code = f"""
import time
from reelgraph.features.split import make_split, SplitParams
from reelgraph.features.tables import build_features
t = time.perf_counter()
s = make_split({str(wh)!r}, SplitParams(seed=0), force=True)
t_split = time.perf_counter() - t
f = build_features({str(wh)!r}, s.split_id, force=True)
print({{'split_s': round(t_split, 2), 'features_s': round(time.perf_counter() - t - t_split, 2),
        'train': s.counts['train'], 'users': f.user_rows, 'movies': f.movie_rows, 'movie_dim': f.movie_dim,
        'content': f.content_source}})
"""
    result = run_stage("split + features (random 0.8/0.1/0.1)", code)
    out = Path("bench/results/features-25m.json")
    out.write_text(json.dumps({**stamp(), "stages": [result]}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
