from __future__ import annotations

from typing import Literal

from prefect import flow

from reelgraph.core import settings
from tasks.feature_tasks import features_task, split_task


@flow(name="features")
def features_flow(
    warehouse: str | None = None,
    protocol: Literal["random", "temporal", "user_subgraph"] = "random",
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    seed: int = 0,
    n_users: int | None = None,
    shrinkage: float = 10.0,
    force: bool = False,
) -> dict:
    """Split raw.ratings and compute leakage-free user / movie features from the train part."""
    wh = str(settings.warehouse_path(warehouse))
    split = split_task(
        wh,
        {
            "protocol": protocol,
            "val_fraction": val_fraction,
            "test_fraction": test_fraction,
            "seed": seed,
            "n_users": n_users,
        },
        force,
    )
    feats = features_task(wh, split["split_id"], {"shrinkage": shrinkage, "seed": seed}, force)
    return {"split": split, "features": feats}
