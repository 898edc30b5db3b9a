"""What the benchmark scripts share: a stage run in a fresh process with its wall time and peak
RSS, the machine and date stamp, a run's metrics from a warehouse, and the quality benchmarks'
set-up (a dataset ingested into a bench warehouse, split and featurised the way `reelgraph run`
does it, and the settings `run` would use).

Imports of the package happen inside the functions that need them: bench_gpu.py runs on a
machine with torch, PyG and numpy only.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WORK = ROOT / "bench" / "results" / "work"


def machine() -> str:
    try:
        model = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        model = platform.processor() or "unknown cpu"
    return f"{os.cpu_count()} cores ({model}), {platform.system()} {platform.release()}"


def run_stage(
    name: str, code: str, memory_limit_gib: float | None = None, may_fail: bool = False
) -> dict:
    """Run `code` in a child Python; returns its wall seconds and its own peak RSS in GiB.

    memory_limit_gib caps the child's address space, so a stage that needs more fails with a
    MemoryError of its own instead of waking the kernel's OOM killer; with may_fail the failure
    is reported in the result (its last line of output) instead of ending the benchmark."""
    limit = (
        "import resource as _r\n"
        f"_r.setrlimit(_r.RLIMIT_AS, ({int(memory_limit_gib * 2**30)}, {int(memory_limit_gib * 2**30)}))\n"
        if memory_limit_gib
        else ""
    )
    report = (
        "\nimport resource as _r\nprint('__PEAK_KIB__', _r.getrusage(_r.RUSAGE_SELF).ru_maxrss)\n"
    )
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", limit + code + report], capture_output=True, text=True
    )
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        if may_fail:
            last = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
            result = {"stage": name, "wall_s": round(wall, 2), "failed": last[:300]}
            print(json.dumps(result), flush=True)
            return result
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(f"stage {name} failed with exit code {proc.returncode}")
    lines = proc.stdout.strip().splitlines()
    peak_kib = int(lines[-1].split()[1])
    result = {"stage": name, "wall_s": round(wall, 2), "peak_rss_gib": round(peak_kib / 2**20, 2)}
    if len(lines) > 1:
        result["output"] = lines[-2]
    print(json.dumps(result), flush=True)
    return result


def stamp() -> dict:
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": machine(),
        "python": platform.python_version(),
    }


def run_metrics(warehouse: Path, run_id: str | None = None) -> dict[str, float]:
    """A run's test metrics from marts.metrics as {"model/metric@k": value} (run_id None: the
    warehouse's only run)."""
    import duckdb

    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute(
            "SELECT model, metric, k, value FROM marts.metrics WHERE run_id = coalesce(?, run_id)",
            [run_id],
        ).fetchall()
    return {f"{m}/{x}@{k}": v for m, x, k, v in rows}


def agreement(a: dict[str, float], b: dict[str, float]) -> dict[str, int]:
    """How many of a's metrics b records identically, and within 1e-6."""
    return {
        "metrics": len(a),
        "metrics_equal": sum(a[k] == b.get(k) for k in a),
        "metrics_within_1e-6": sum(abs(a[k] - b.get(k, float("inf"))) <= 1e-6 for k in a),
    }


ML_SMALL = ROOT.parent / "shared" / "data" / "ml-latest-small"


def dataset_graph(
    source: Path = ML_SMALL,
    dataset: str = "ml-latest-small",
    protocol: str = "random",
    seed: int = 0,
):  # noqa: ANN201 - a reelgraph.graph.ratings.RatingGraph
    """The split graph `reelgraph run --split PROTOCOL --seed SEED` trains on (test part included:
    callers that tune must drop it, see reelgraph.tune.search.without_test)."""
    from reelgraph.features.graph import build_graph
    from reelgraph.features.split import SplitParams, make_split
    from reelgraph.features.tables import build_features
    from reelgraph.ingest.datasets import acquire
    from reelgraph.ingest.load import ingest

    WORK.mkdir(parents=True, exist_ok=True)
    wh = WORK / f"{dataset}.duckdb"
    manifest = acquire(dataset, source=source, cache_dir=WORK / "cache")
    ingest(manifest, wh)  # skipped when the warehouse holds this data already
    split = make_split(wh, SplitParams(protocol=protocol, seed=seed))  # type: ignore[arg-type]
    build_features(wh, split.split_id)
    return build_graph(wh, split.split_id)


def settings(dataset: str = "ml-latest-small"):  # noqa: ANN201 - a tune.run_config.RunConfig
    """What `run` would use for the dataset: its tuned config, else the code's defaults."""
    from reelgraph.tune import run_config

    return run_config.resolve(dataset, None, ROOT / "outputs")


def table(rows: list[dict], columns: list[str]) -> str:
    head = "| " + " | ".join(columns) + " |"
    sep = "|" + "---|" * len(columns)
    body = ["| " + " | ".join(_cell(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join([head, sep, *body])


def _cell(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.4f}"
    return "—" if v is None else str(v)


def replace(cfg: object, **changes: object) -> object:
    return dataclasses.replace(cfg, **changes)  # type: ignore[type-var]
