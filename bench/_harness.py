"""Run one benchmark stage in a fresh process and report wall time and peak RSS.

Each stage runs in its own child so `ru_maxrss` measures that stage alone.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path


def machine() -> str:
    try:
        model = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        model = platform.processor() or "unknown cpu"
    import os

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
