from __future__ import annotations

from typing import Literal

from prefect import flow

from flows.evaluate_flow import evaluate_flow
from flows.features_flow import features_flow
from flows.ingest_flow import ingest_flow
from flows.train_flow import train_flow
from reelgraph import runs


@flow(name="pipeline", log_prints=True)
def pipeline_flow(
    dataset: str = "ml-latest-small",
    source: str | None = None,
    warehouse: str | None = None,
    outputs: str | None = None,
    split: Literal["random", "temporal", "user_subgraph"] = "random",
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    n_users: int | None = None,
    seed: int = 0,
    epochs: int = 300,
    lr: float = 0.005,
    hidden: int = 64,
    embed_dim: int = 32,
    dropout: float = 0.1,
    rank_weight: float = 1.0,
    device: str = "auto",
    k: int = 20,
    baselines: list[str] | None = None,
    force: bool = False,
) -> dict:
    """The whole job, top to bottom: acquire -> ingest -> split -> features -> train -> evaluate."""
    run_id = runs.new_run_id()
    ingested = ingest_flow(dataset=dataset, source=source, warehouse=warehouse, force=force)
    feats = features_flow(
        warehouse=warehouse,
        protocol=split,
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        seed=seed,
        n_users=n_users,
        force=force,
    )
    trained = train_flow(
        split_id=feats["split"]["split_id"],
        warehouse=warehouse,
        outputs=outputs,
        run_id=run_id,
        epochs=epochs,
        lr=lr,
        hidden=hidden,
        embed_dim=embed_dim,
        dropout=dropout,
        rank_weight=rank_weight,
        device=device,
        seed=seed,
    )
    evaluated = evaluate_flow(
        run_id=run_id,
        graph_path=trained["graph_path"],
        model_path=trained["model_path"],
        warehouse=warehouse,
        outputs=outputs,
        k_values=sorted({10, k}),
        models=baselines,
        device=device,
    )
    return {"run_id": run_id, "ingest": ingested, **feats, "train": trained, "evaluate": evaluated}
