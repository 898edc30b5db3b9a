"""Latency of the explorer's recommend endpoint under a local load generator (issue 8).

    python bench/bench_explorer.py --warehouse data/reelgraph.duckdb --outputs outputs [--requests 400]

Starts `reelgraph explore` on loopback, warms up, then sends requests from `--concurrency`
threads for random users of the latest run (half with genre/year filters) and reports p50/p99.
Target: p99 <= 100 ms on synthetic 25m.
"""

from __future__ import annotations

import argparse
import json
import random
import socket
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from helpers import stamp  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--warehouse", required=True)
    ap.add_argument("--outputs", default="outputs")
    ap.add_argument("--requests", type=int, default=400)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--label", default="")
    args = ap.parse_args()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = str(Path(sys.executable).parent / "reelgraph")
    server = subprocess.Popen(
        [
            exe,
            "explore",
            "--port",
            str(port),
            "--warehouse",
            args.warehouse,
            "--outputs",
            args.outputs,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(base + "/api/genres", timeout=2)
                break
            except OSError:
                time.sleep(0.1)
        users = json.loads(urllib.request.urlopen(base + "/api/users?limit=100&q=1").read())
        genres = json.loads(urllib.request.urlopen(base + "/api/genres").read())
        rng = random.Random(0)

        def one(i: int) -> float:
            q = {"user": rng.choice(users), "k": 10}
            if i % 2:
                q |= {"genres": rng.choice(genres), "years": "1980:2010"}
            t = time.perf_counter()
            with urllib.request.urlopen(
                base + "/api/recommend?" + urllib.parse.urlencode(q), timeout=30
            ) as r:
                r.read()
            return (time.perf_counter() - t) * 1000

        for i in range(20):  # warm-up: connections, DuckDB caches
            one(i)
        with ThreadPoolExecutor(args.concurrency) as pool:
            lat = sorted(pool.map(one, range(args.requests)))
    finally:
        server.terminate()
        server.wait(timeout=20)
    result = {
        **stamp(),
        "label": args.label,
        "requests": len(lat),
        "concurrency": args.concurrency,
        "p50_ms": round(statistics.median(lat), 1),
        "p99_ms": round(lat[int(0.99 * (len(lat) - 1))], 1),
        "max_ms": round(lat[-1], 1),
    }
    print(json.dumps(result))
    out = Path("bench/results") / f"explorer-{args.label or 'run'}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
