from __future__ import annotations

from prefect import flow

from reelgraph import settings
from tasks.ingest_tasks import acquire_task, ingest_task


@flow(name="ingest")
def ingest_flow(
    dataset: str = "ml-latest-small",
    source: str | None = None,
    warehouse: str | None = None,
    cache_dir: str | None = None,
    max_reject_fraction: float = 0.01,
    force: bool = False,
) -> dict:
    """Acquire a MovieLens release (or a local copy) and load it into the warehouse's raw layer."""
    manifest = acquire_task(dataset, settings.source(source), cache_dir)
    return ingest_task(
        manifest, str(settings.warehouse_path(warehouse)), max_reject_fraction, force
    )
