"""How the packages may depend on each other, checked by import-linter's contracts (in
pyproject.toml): stages flow one way, and the model stack stays free of Prefect, DuckDB,
Polars and pyarrow so it runs on a GPU machine that has only torch, PyG and numpy."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_are_kept() -> None:
    lint = Path(sys.executable).parent / "lint-imports"
    proc = subprocess.run(
        [str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "2 kept, 0 broken" in proc.stdout
