from __future__ import annotations

import datetime as dt
from typing import Literal

from prefect import flow

from flows.features_flow import features_flow
from flows.ingest_flow import ingest_flow
from reelgraph.core import runs, settings
from reelgraph.core.settings import TUNABLE
from reelgraph.pipeline import preflight
from reelgraph.tune import run_config
from tasks.tune_tasks import tune_task


@flow(name="tune")
def tune_flow(
    dataset: str = "ml-latest-small",
    source: str | None = None,
    warehouse: str | None = None,
    outputs: str | None = None,
    split: Literal["random", "temporal", "user_subgraph"] = "random",
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    n_users: int | None = None,
    seed: int = 0,
    trials: int = 20,
    models: list[str] | None = None,
    out: str | None = None,
    force: bool = False,
) -> dict:
    """Search GraphSAGE's and each ranking baseline's settings with the same budget of trials
    on the validation part of the split `run` evaluates on (same protocol, fractions and
    seed), record every trial in ops.tuning, and write the winners to a config file that
    `run` picks up (`out`, default <outputs>/tuned/<dataset>.json)."""
    models = check_tune(**locals())
    ingest_flow(dataset=dataset, source=source, warehouse=warehouse, force=force)
    feats = features_flow(
        warehouse=warehouse,
        protocol=split,
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        seed=seed,
        n_users=n_users,
        force=force,
    )
    split_id = feats["split"]["split_id"]
    tuning_id = runs.new_run_id()
    wh = str(settings.warehouse_path(warehouse))
    results = {m: tune_task(wh, tuning_id, dataset, split_id, m, trials, seed) for m in models}
    sage = results.get("graphsage", {}).get("best_params", {})
    chosen = run_config.RunConfig(
        model=sage.get("model", {}),
        train=sage.get("train", {}),
        baselines={m: r["best_params"] for m, r in results.items() if m != "graphsage"},
        tuning={
            "tuning_id": tuning_id,
            "split_id": split_id,
            "trials_per_model": trials,
            "seed": seed,
            "validation_ndcg@20": {m: round(r["best_value"], 4) for m, r in results.items()},
            "date": dt.date.today().isoformat(),
        },
    )
    path = chosen.save(
        out or run_config.tuned_path(dataset, settings.outputs_dir(outputs)), dataset
    )
    return {
        "tuning_id": tuning_id,
        "split_id": split_id,
        "config": str(path),
        "best": {
            m: {"value": r["best_value"], "params": r["best_params"]} for m, r in results.items()
        },
    }


def check_tune(
    *, trials: int, models: list[str] | None, out: str | None, **params: object
) -> list[str]:
    """Every parameter of a tuning checked before any work starts; returns the models."""
    preflight.run_inputs(**params)
    preflight.at_least("--trials", trials, 1)
    preflight.names("--models", models, TUNABLE)
    if out is not None:
        preflight.writable_file(out, "--out")
    preflight.download_reachable(params["dataset"], params["source"])
    return list(models or TUNABLE)
