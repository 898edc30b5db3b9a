from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Literal

from prefect import flow, runtime
from prefect.artifacts import create_markdown_artifact

from flows.evaluate_flow import evaluate_flow
from flows.features_flow import features_flow
from flows.ingest_flow import ingest_flow
from flows.publish_flow import publish_flow
from flows.train_flow import train_flow
from reelgraph import preflight, run_config, run_summary, runs, settings
from reelgraph.run_layout import RunLayout


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
    config: str | None = None,
    epochs: int | None = None,
    lr: float | None = None,
    hidden: int | None = None,
    embed_dim: int | None = None,
    dropout: float | None = None,
    id_embeddings: bool | None = None,
    model_params: dict | None = None,
    train_params: dict | None = None,
    refit: bool = True,
    device: str = "auto",
    k: int = 20,
    baselines: list[str] | None = None,
    retention: int = 5,
    force: bool = False,
) -> dict:
    """The whole job, top to bottom: acquire -> ingest -> split -> features -> train ->
    evaluate -> refit on every rating -> publish -> figures. Every stage is also a flow.

    Settings: the code's defaults, then the config file (`config`, else the dataset's tuned
    default, see reelgraph.run_config), then the named parameters that are set, then
    model_params / train_params (any ModelConfig / TrainConfig field)."""
    run_id = runs.new_run_id()
    started = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    params = {name: value for name, value in locals().items() if name not in ("run_id", "started")}
    chosen, model_settings, train_settings = check_pipeline(**params)

    run_dir = RunLayout.of(settings.outputs_dir(outputs), run_id).dir
    with runs.in_progress(run_dir, settings.warehouse_path(warehouse)):
        return _pipeline(run_id, started, params, chosen, model_settings, train_settings)


def _pipeline(
    run_id: str,
    started: dt.datetime,
    params: dict,
    chosen: run_config.RunConfig,
    model_settings: dict,
    train_settings: dict,
) -> dict:
    """The stages of pipeline_flow, in order, while its run folder is marked as working."""
    p = params
    dataset, source, warehouse, outputs = p["dataset"], p["source"], p["warehouse"], p["outputs"]
    split, seed, n_users, force = p["split"], p["seed"], p["n_users"], p["force"]
    val_fraction, test_fraction, k, device = (
        p["val_fraction"],
        p["test_fraction"],
        p["k"],
        p["device"],
    )
    baselines, refit, retention = p["baselines"], p["refit"], p["retention"]
    timings: dict[str, float] = {}

    def timed(stage: str, fn, **kw):  # noqa: ANN001, ANN202
        t = time.perf_counter()
        out = fn(**kw)
        timings[stage] = round(time.perf_counter() - t, 2)
        return out

    ingested = timed(
        "ingest", ingest_flow, dataset=dataset, source=source, warehouse=warehouse, force=force
    )
    split_settings = {"protocol": split, "seed": seed, "n_users": n_users, "force": force}
    feats = timed(
        "split+features",
        features_flow,
        warehouse=warehouse,
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        **split_settings,
    )
    trained = timed(
        "train",
        train_flow,
        split_id=feats["split"]["split_id"],
        warehouse=warehouse,
        outputs=outputs,
        run_id=run_id,
        model_params=model_settings,
        train_params=train_settings,
        name="eval_model",
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
        baseline_params=chosen.baselines,
        device=device,
        seed=seed,
    )
    served = trained
    if refit:
        # The lists people see come from the same settings and epoch counts, refit on every
        # rating (validation and test too): the evaluated model never saw those.
        everything = timed(
            "refit split+features",
            features_flow,
            warehouse=warehouse,
            val_fraction=0.0,
            test_fraction=0.0,
            **split_settings,
        )
        served = timed(
            "refit",
            train_flow,
            split_id=everything["split"]["split_id"],
            warehouse=warehouse,
            outputs=outputs,
            run_id=run_id,
            model_params=model_settings,
            train_params=train_settings,
            fixed_epochs=[trained["best_epoch"], trained["best_rank_epoch"]],
            name="model",
        )
    record = {
        "run_id": run_id,
        "dataset": dataset,
        "data_checksum": ingested["data_checksum"],
        "split_id": served["split_id"],
        "params": {
            **params,
            "graph_path": served["graph_path"],
            "eval_split_id": trained["split_id"],
            "config_file": chosen.path,
            "model_settings": model_settings,
            "train_settings": train_settings,
        },
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
        graph_path=served["graph_path"],
        model_path=served["model_path"],
        split=feats["split"],
        train=trained,
        served=served if refit else None,
        warehouse=warehouse,
        outputs=outputs,
        k=k,
        retention=retention,
        device=device,
    )
    create_markdown_artifact(
        run_summary.pipeline_summary(
            run_id,
            dataset,
            run_summary.lists_source(refit),
            timings,
            RunLayout(Path(published["run_dir"])).comparison.read_text(),
            published["figures"],
        ),
        key="pipeline-summary",
        description=f"run {run_id}",
    )
    return {
        "run_id": run_id,
        "ingest": ingested,
        **feats,
        "train": trained,
        "evaluate": evaluated,
        "refit": served if refit else None,
        "publish": published,
        "timings": timings,
        "config_file": chosen.path,
    }


def check_pipeline(
    *,
    dataset: str,
    source: str | None,
    warehouse: str | None,
    outputs: str | None,
    split: str,
    val_fraction: float,
    test_fraction: float,
    n_users: int | None,
    seed: int,
    config: str | None,
    epochs: int | None,
    lr: float | None,
    hidden: int | None,
    embed_dim: int | None,
    dropout: float | None,
    id_embeddings: bool | None,
    model_params: dict | None,
    train_params: dict | None,
    device: str,
    k: int,
    baselines: list[str] | None,
    retention: int,
    **_: object,
) -> tuple[run_config.RunConfig, dict, dict]:
    """Every parameter of a pipeline run checked before any work starts (the command line
    calls this before Prefect starts; the flow again for deployments); returns the resolved
    config and GraphSAGE's model and training settings."""
    preflight.run_inputs(
        dataset=dataset,
        source=source,
        warehouse=warehouse,
        outputs=outputs,
        split=split,
        seed=seed,
        n_users=n_users,
        val_fraction=val_fraction,
        test_fraction=test_fraction,
    )
    preflight.at_least("--k", k, 1)
    if k > 1000:
        raise preflight.ParameterError(f"--k must be at most 1000, got {k}")
    preflight.at_least("--epochs", epochs, 1)
    preflight.at_least("--hidden", hidden, 1)
    preflight.at_least("retention", retention, 1)
    preflight.names("--baselines", baselines, settings.DEFAULT_BASELINES)
    preflight.device(device)
    chosen = run_config.resolve(dataset, config, settings.outputs_dir(outputs))
    model, train = run_config.graphsage_settings(
        chosen,
        {
            "hidden": hidden,
            "embed_dim": embed_dim,
            "dropout": dropout,
            "id_embeddings": id_embeddings,
        },
        {"epochs": epochs, "lr": lr},
        model_params,
        train_params,
        device,
        seed,
    )
    preflight.model_settings(model, train)
    preflight.download_reachable(dataset, source)
    return chosen, model, train
