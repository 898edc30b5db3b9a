from __future__ import annotations

import os
from pathlib import Path

import pytest

# Before anything imports Prefect: telemetry off, and no state in the home directory.
os.environ["DO_NOT_TRACK"] = "1"
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
_STATE = Path(__file__).resolve().parent.parent / ".state" / "pytest"
os.environ.setdefault("PREFECT_HOME", str(_STATE / "prefect"))
Path(os.environ["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.pop("REELGRAPH_WAREHOUSE", None)
os.environ.pop("REELGRAPH_SOURCE", None)


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny synthetic preset, generated once per test session."""
    from reelgraph.synthetic import generate

    return generate("tiny", tmp_path_factory.mktemp("tiny"), seed=0).directory


def write_dataset(folder: Path, **files: str) -> Path:
    """Write hand-made CSVs: write_dataset(d, movies="movieId,title,genres\\n1,A (1999),Drama\\n")."""
    folder.mkdir(parents=True, exist_ok=True)
    for stem, text in files.items():
        name = stem.replace("_", "-") + ".csv"
        (folder / name).write_text(text)
    return folder
