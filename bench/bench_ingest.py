"""Benchmark: synthetic 25m generation and its ingest into a fresh warehouse.

    python bench/bench_ingest.py [--preset 25m] [--workdir bench/results/work]

Targets (issue 2): generate <= 90 s, ingest <= 30 s, peak RSS <= 4 GB on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from helpers import run_stage, stamp  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="25m")
    ap.add_argument("--workdir", default="bench/results/work")
    ap.add_argument("--keep", action="store_true", help="keep the generated data and warehouse")
    args = ap.parse_args()
    work = Path(args.workdir).resolve()
    data, wh = work / f"syn-{args.preset}", work / f"ingest-{args.preset}.duckdb"
    shutil.rmtree(data, ignore_errors=True)
    wh.unlink(missing_ok=True)
    work.mkdir(parents=True, exist_ok=True)

    results = [
        run_stage(
            "generate",
            f"from reelgraph.synthetic.generator import generate\nr = generate({args.preset!r}, {str(data)!r}, seed=0)\nprint(r.row_counts)",
        ),
        run_stage(
            "acquire (hash files)",
            f"from reelgraph.ingest.datasets import acquire\nm = acquire('synthetic-{args.preset}', source={str(data)!r}, cache_dir={str(work / 'cache')!r})\nprint(m.checksum[:12])",
        ),
        run_stage(
            "ingest (validate + load)",
            f"""
from reelgraph.ingest.datasets import acquire
from reelgraph.ingest.load import ingest
import time
m = acquire('synthetic-{args.preset}', source={str(data)!r}, cache_dir={str(work / "cache")!r})
t = time.perf_counter()
r = ingest(m, {str(wh)!r})
print({{'ingest_s': round(time.perf_counter() - t, 2), 'rows': r.row_counts}})
""",
        ),
    ]
    out = Path("bench/results") / f"ingest-{args.preset}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({**stamp(), "preset": args.preset, "stages": results}, indent=2))
    print(f"wrote {out}")
    if not args.keep:
        shutil.rmtree(data, ignore_errors=True)
        wh.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
