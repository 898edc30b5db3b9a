from __future__ import annotations

import dataclasses

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact

from reelgraph.core import settings
from reelgraph.ingest import datasets, load, profile


def _network_failure(task, task_run, state) -> bool:  # noqa: ANN001 - Prefect's hook signature
    """Retry downloads only: a checksum mismatch or a bad --source fails the same way again."""
    return isinstance(state.result(raise_on_failure=False), datasets.DownloadError)


@task(name="acquire", retries=2, retry_delay_seconds=[10, 60], retry_condition_fn=_network_failure)
def acquire_task(dataset: str, source: str | None = None, cache_dir: str | None = None) -> dict:
    """Download (or read a local copy of) the dataset and verify it; returns its manifest."""
    manifest = datasets.acquire(dataset, source=source, cache_dir=settings.cache_dir(cache_dir))
    get_run_logger().info(
        "%s: %d files, checksum %s, %s",
        dataset,
        len(manifest.files),
        manifest.checksum[:12],
        manifest.verification,
    )
    return dataclasses.asdict(manifest)


@task(name="ingest")
def ingest_task(
    manifest: dict,
    warehouse: str,
    max_reject_fraction: float = 0.01,
    force: bool = False,
    max_drift: bool = False,
) -> dict:
    """Load raw.* from the manifest's files. Writes, so it is never cached by Prefect: the skip
    decision is taken against ops.ingests in the warehouse itself, which cannot go stale.
    Data drift since the dataset's previous ingest: a warning line and the `data-drift`
    artifact (refused instead with max_drift)."""
    result = load.ingest(
        datasets.DatasetManifest.from_dict(manifest),
        warehouse,
        max_reject_fraction=max_reject_fraction,
        force=force,
        max_drift=max_drift,
    )
    logger = get_run_logger()
    if result.skipped:
        logger.info(
            "skipped: %s already holds this data (ingest %d, checksum %s)",
            warehouse,
            result.ingest_id,
            result.data_checksum[:12],
        )
    else:
        logger.info(
            "ingest %d: %s; rejected %s", result.ingest_id, result.row_counts, result.rejected_rows
        )
    if result.drift:
        logger.warning("%s", profile.describe(result.drift, result.drift_against))
        create_markdown_artifact(
            profile.markdown(result.drift, result.drift_against, result.ingest_id),
            key="data-drift",
            description=f"ingest {result.ingest_id} against ingest {result.drift_against}",
        )
    return dataclasses.asdict(result)
