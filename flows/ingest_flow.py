from __future__ import annotations

from pathlib import Path

from prefect import flow

from reelgraph.core import settings
from reelgraph.ingest import datasets
from reelgraph.pipeline import preflight
from tasks.ingest_tasks import acquire_task, ingest_task


@flow(name="ingest")
def ingest_flow(
    dataset: str = "ml-latest-small",
    source: str | None = None,
    warehouse: str | None = None,
    cache_dir: str | None = None,
    max_reject_fraction: float = 0.01,
    force: bool = False,
    max_drift: bool = False,
) -> dict:
    """Acquire a MovieLens release (or a local copy) and load it into the warehouse's raw layer.
    max_drift: refuse data that drifted past the bounds of reelgraph.ingest.profile since the
    dataset's previous ingest (else: loaded, with a warning and a `data-drift` artifact)."""
    preflight.ingest_inputs(**locals())
    preflight.download_reachable(dataset, source, cache_dir)
    manifest = acquire_task(dataset, settings.source(source), cache_dir)
    try:
        return ingest_task(
            manifest, str(settings.warehouse_path(warehouse)), max_reject_fraction, force, max_drift
        )
    finally:
        if not Path(manifest["source"]).is_dir():  # never a folder the user pointed at
            datasets.clean_extracted(settings.cache_dir(cache_dir), dataset)
