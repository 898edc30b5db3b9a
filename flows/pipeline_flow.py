from __future__ import annotations

import datetime as dt
import time
from typing import Literal

from prefect import flow, runtime

from flows.evaluate_flow import evaluate_flow
from flows.features_flow import features_flow
from flows.ingest_flow import ingest_flow
from flows.publish_flow import publish_flow
from flows.train_flow import train_flow
from reelgraph import runs
from reelgraph.model import ModelConfig
from reelgraph.train import TrainConfig


@flow(name="pipeline")
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
    epochs: int = TrainConfig.epochs,
    lr: float = TrainConfig.lr,
    hidden: int = ModelConfig.hidden,
    embed_dim: int = ModelConfig.embed_dim,
    dropout: float = ModelConfig.dropout,
    id_embeddings: bool = ModelConfig.id_embeddings,
    rank_weight: float = TrainConfig.rank_weight,
    device: str = "auto",
    k: int = 20,
    baselines: list[str] | None = None,
    retention: int = 5,
    force: bool = False,
) -> dict:
    """The whole job, top to bottom: acquire -> ingest -> split -> features -> train ->
    evaluate -> publish -> figures. Every stage is also a flow of its own."""
    run_id = runs.new_run_id()
    started = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    params = {name: value for name, value in locals().items() if name not in ("run_id", "started")}
    timings: dict[str, float] = {}

    def timed(stage: str, fn, **kw):  # noqa: ANN001, ANN202
        t = time.perf_counter()
        out = fn(**kw)
        timings[stage] = round(time.perf_counter() - t, 2)
        return out

    ingested = timed(
        "ingest", ingest_flow, dataset=dataset, source=source, warehouse=warehouse, force=force
    )
    feats = timed(
        "split+features",
        features_flow,
        warehouse=warehouse,
        protocol=split,
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        seed=seed,
        n_users=n_users,
        force=force,
    )
    trained = timed(
        "train",
        train_flow,
        split_id=feats["split"]["split_id"],
        warehouse=warehouse,
        outputs=outputs,
        run_id=run_id,
        epochs=epochs,
        lr=lr,
        hidden=hidden,
        embed_dim=embed_dim,
        dropout=dropout,
        id_embeddings=id_embeddings,
        rank_weight=rank_weight,
        device=device,
        seed=seed,
    )
    evaluated = timed(
        "evaluate",
        evaluate_flow,
        run_id=run_id,
        graph_path=trained["graph_path"],
        model_path=trained["model_path"],
        warehouse=warehouse,
        outputs=outputs,
        k_values=sorted({10, k}),
        models=baselines,
        device=device,
    )
    record = {
        "run_id": run_id,
        "dataset": dataset,
        "data_checksum": ingested["data_checksum"],
        "split_id": feats["split"]["split_id"],
        "params": {**params, "graph_path": trained["graph_path"]},
        "seed": seed,
        "device": trained["device"],
        "timings": timings,
        "started_at": started.isoformat(),
        "flow_run_id": str(runtime.flow_run.id or ""),
    }
    published = timed(
        "publish+figures",
        publish_flow,
        record=record,
        graph_path=trained["graph_path"],
        model_path=trained["model_path"],
        split=feats["split"],
        train=trained,
        warehouse=warehouse,
        outputs=outputs,
        k=k,
        retention=retention,
        device=device,
    )
    return {
        "run_id": run_id,
        "ingest": ingested,
        **feats,
        "train": trained,
        "evaluate": evaluated,
        "publish": published,
        "timings": timings,
    }
