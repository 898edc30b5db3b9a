from __future__ import annotations

from typing import Literal

from prefect import flow

from flows.features_flow import features_flow
from flows.ingest_flow import ingest_flow


@flow(name="pipeline", log_prints=True)
def pipeline_flow(
    dataset: str = "ml-latest-small",
    source: str | None = None,
    warehouse: str | None = None,
    split: Literal["random", "temporal", "user_subgraph"] = "random",
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    n_users: int | None = None,
    seed: int = 0,
    force: bool = False,
) -> dict:
    """The whole job, top to bottom: acquire -> ingest -> split -> features."""
    ingested = ingest_flow(dataset=dataset, source=source, warehouse=warehouse, force=force)
    features = features_flow(
        warehouse=warehouse,
        protocol=split,
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        seed=seed,
        n_users=n_users,
        force=force,
    )
    return {"ingest": ingested, **features}
