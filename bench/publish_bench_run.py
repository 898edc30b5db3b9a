"""Publish the 25m model trained by bench_train.py into the bench warehouse, so the explorer
and CLI can be measured on 25m (bench_explorer.py). Timed as the publish stage of issue 6.

    python bench/publish_bench_run.py [--hidden 32]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from helpers import run_stage, stamp  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--workdir", default="bench/results/work")
    args = ap.parse_args()
    work = Path(args.workdir)
    wh, graph, model = (
        work / "ingest-25m.duckdb",
        work / "graph-25m.pt",
        work / f"train-h{args.hidden}" / "model.pt",
    )
    stage = run_stage(
        "publish 25m (top-20 + bottom-20 + explanations + embeddings, one transaction)",
        f"""
import datetime as dt, duckdb
from reelgraph.graph.ratings import RatingGraph
from reelgraph.serve.publish import RunRecord, publish_run
con = duckdb.connect({str(wh)!r}, read_only=True)
checksum = con.execute("SELECT data_checksum FROM ops.ingests WHERE status = 'succeeded' ORDER BY ingest_id DESC LIMIT 1").fetchall()[0][0]
con.close()
g = RatingGraph.load({str(graph)!r})
rec = RunRecord('bench-25m-h{args.hidden}', 'synthetic-25m', checksum, g.split_id, {{'graph_path': {str(graph)!r}}}, 0, 'cpu', {{}}, dt.datetime.now())
r = publish_run({str(wh)!r}, rec, g, {str(model)!r}, {str(work / "runs" / f"bench-25m-h{args.hidden}")!r}, k=20, device='cpu')
print({{'recommendations': r.recommendations, 'users': r.users}})
""",
    )
    Path("bench/results/publish-25m.json").write_text(
        json.dumps({**stamp(), "stages": [stage]}, indent=2)
    )


if __name__ == "__main__":
    main()
