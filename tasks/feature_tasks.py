from __future__ import annotations

import dataclasses

from prefect import get_run_logger, task

from reelgraph.features import split, tables


@task(name="split")
def split_task(warehouse: str, params: dict, force: bool = False) -> dict:
    """Write (or reuse) the split for these parameters. Writes the warehouse, so no Prefect cache:
    reuse is decided against staging.splits, keyed by a hash of the parameters and data checksum."""
    result = split.make_split(warehouse, split.SplitParams(**params), force=force)
    get_run_logger().info(
        "%s split %s: %s", "reused" if result.reused else "made", result.split_id, result.counts
    )
    return dataclasses.asdict(result)


@task(name="features")
def features_task(
    warehouse: str, split_id: str, params: dict | None = None, force: bool = False
) -> dict:
    """User and movie features of the split, cached in tables.builds on (split id, which hashes
    the data checksum; feature code version; parameters)."""
    result = tables.build_features(
        warehouse, split_id, tables.FeatureParams(**(params or {})), force=force
    )
    get_run_logger().info(
        "%s features for %s: users %d x %d, movies %d x %d (content: %s)",
        "reused" if result.reused else "built",
        split_id,
        result.user_rows,
        result.user_dim,
        result.movie_rows,
        result.movie_dim,
        result.content_source,
    )
    return dataclasses.asdict(result)
