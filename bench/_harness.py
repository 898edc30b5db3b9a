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


def run_stage(name: str, code: str) -> dict:
    """Run `code` in a child Python; returns its wall seconds and its own peak RSS in GiB."""
    report = (
        "\nimport resource as _r\nprint('__PEAK_KIB__', _r.getrusage(_r.RUSAGE_SELF).ru_maxrss)\n"
    )
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code + report], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
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
