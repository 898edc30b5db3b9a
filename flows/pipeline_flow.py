from __future__ import annotations

from prefect import flow

from flows.ingest_flow import ingest_flow


@flow(name="pipeline", log_prints=True)
def pipeline_flow(
    dataset: str = "ml-latest-small",
    source: str | None = None,
    warehouse: str | None = None,
    force: bool = False,
) -> dict:
    """The whole job, top to bottom: acquire -> ingest (later stages chain on here)."""
    ingested = ingest_flow(dataset=dataset, source=source, warehouse=warehouse, force=force)
    return {"ingest": ingested}
