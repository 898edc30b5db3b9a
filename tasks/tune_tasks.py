from __future__ import annotations

import dataclasses
import datetime as dt
import json

from prefect import get_run_logger, task

from reelgraph.features.graph import build_graph
from reelgraph.tune import search as tuning
from warehouse import connect, create_tables
from warehouse.connection import transaction


@task(name="tune")
def tune_task(
    warehouse: str,
    tuning_id: str,
    dataset: str,
    split_id: str,
    model: str,
    trials: int,
    seed: int = 0,
    base: dict | None = None,
) -> dict:
    """`trials` settings of one model on the split's validation part; every trial lands in
    ops.tuning (the chosen one flagged), written once the search ends."""
    logger = get_run_logger()
    graph = tuning.without_test(build_graph(warehouse, split_id))

    def on_trial(t: tuning.Trial) -> None:
        logger.info(
            "%s trial %d: validation NDCG@20 %.4f in %.0f s %s",
            model,
            t.number,
            t.value,
            t.seconds,
            t.params if t.error is None else f"failed: {t.error}",
        )

    result = tuning.tune(model, graph, trials, seed, base, on_trial)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    rows = [
        (
            tuning_id,
            dataset,
            split_id,
            model,
            t.number,
            json.dumps(t.params),
            None if t.error else t.value,
            json.dumps(t.extra, default=str),
            t.seconds,
            t.error,
            t.params == result.best_params and t.value == result.best_value,
            now,
        )
        for t in result.trials
    ]
    con = connect(warehouse)
    try:
        create_tables(con, "ops", "tuning.toml")
        with transaction(con):
            con.executemany(
                "INSERT INTO ops.tuning VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows
            )
    finally:
        con.close()
    return {
        "model": model,
        "best_params": result.best_params,
        "best_value": result.best_value,
        "trials": [dataclasses.asdict(t) for t in result.trials],
    }
