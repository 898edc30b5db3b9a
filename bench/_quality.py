"""Shared set-up of the quality benchmarks: a dataset ingested into a bench warehouse, split and
featurised the way `reelgraph run` does it, and its graph; the settings `run` would use."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from reelgraph.features.graph import build_graph  # noqa: E402
from reelgraph.features.split import SplitParams, make_split  # noqa: E402
from reelgraph.features.tables import build_features  # noqa: E402
from reelgraph.graph.ratings import RatingGraph  # noqa: E402
from reelgraph.ingest.datasets import acquire  # noqa: E402
from reelgraph.ingest.load import ingest  # noqa: E402
from reelgraph.tune import run_config  # noqa: E402

WORK = ROOT / "bench" / "results" / "work"
ML_SMALL = ROOT.parent / "shared" / "data" / "ml-latest-small"


def dataset_graph(
    source: Path = ML_SMALL,
    dataset: str = "ml-latest-small",
    protocol: str = "random",
    seed: int = 0,
) -> RatingGraph:
    """The split graph `reelgraph run --split PROTOCOL --seed SEED` trains on (test part included:
    callers that tune must drop it, see reelgraph.tune.search.without_test)."""
    WORK.mkdir(parents=True, exist_ok=True)
    wh = WORK / f"{dataset}.duckdb"
    manifest = acquire(dataset, source=source, cache_dir=WORK / "cache")
    ingest(manifest, wh)  # skipped when the warehouse holds this data already
    split = make_split(wh, SplitParams(protocol=protocol, seed=seed))  # type: ignore[arg-type]
    build_features(wh, split.split_id)
    return build_graph(wh, split.split_id)


def settings(dataset: str = "ml-latest-small") -> run_config.RunConfig:
    """What `run` would use for the dataset: its tuned config, else the code's defaults."""
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
