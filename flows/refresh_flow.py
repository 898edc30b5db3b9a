from __future__ import annotations

import dataclasses
import datetime as dt
import json

import numpy as np
from prefect import flow, runtime

from flows.ingest_flow import ingest_flow
from reelgraph.core import runs, settings
from reelgraph.core.run_layout import RunLayout
from reelgraph.model import loaded
from reelgraph.model.saved import select_device
from reelgraph.pipeline import fanout
from reelgraph.serve import list_files
from tasks.publish_tasks import prepare_lists, publish_task
from tasks.refresh_tasks import check_refreshable, refresh_graph_task


@flow(name="refresh", task_runner=fanout.task_runner())
def refresh_flow(
    dataset: str = "ml-latest-small",
    source: str | None = None,
    warehouse: str | None = None,
    outputs: str | None = None,
    k: int = 20,
    retention: int = 5,
    device: str = "auto",
    max_drift: bool = False,
) -> dict:
    """Ingest new ratings, then re-score every user with the latest model, inductively (no
    retraining), and publish that as a new version of the dataset's marts (max_drift: refuse
    data that drifted since the previous ingest, see reelgraph.ingest.profile)."""
    started = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    wh, out = str(settings.warehouse_path(warehouse)), settings.outputs_dir(outputs)
    check_refreshable(wh, dataset)  # before the ingest: a refused refresh changes nothing
    ingested = ingest_flow(dataset=dataset, source=source, warehouse=warehouse, max_drift=max_drift)
    run_id = runs.new_run_id()
    base = refresh_graph_task(wh, str(out), run_id, dataset)
    record = {
        "run_id": run_id,
        "dataset": dataset,
        "data_checksum": ingested["data_checksum"],
        "split_id": base["split_id"],
        "params": {"k": k, **base["stats"]},
        "refresh_of": base["base_run_id"],
        "graph_path": base["graph_path"],
        "model_path": base["model_path"],
        "seed": base["seed"],
        "device": str(select_device(device)),  # the one used, not "auto"
        "timings": {},
        "started_at": started.isoformat(),
        "flow_run_id": str(runtime.flow_run.id or ""),
    }
    layout = RunLayout.of(out, run_id)
    run_dir = layout.dir
    with runs.in_progress(run_dir, wh):
        prepared = prepare_lists(base["graph_path"], base["model_path"], str(run_dir), k, device)
        gone = np.asarray(base["users_without_ratings"], dtype=np.int64)
        prepared = dataclasses.asdict(
            list_files.without_users(list_files.PreparedRun(**prepared), gone)
        )
        loaded.forget()
        # Written before the commit, so a published refresh always has its card.
        layout.model_card.write_text(
            f"# reelgraph run {run_id}: a refresh of {base['base_run_id']}\n\n"
            f"Every user re-scored by run {base['base_run_id']}'s model (no retraining) with "
            f"the ratings of ingest {ingested['ingest_id']}: {json.dumps(base['stats'])}. "
            f"Its metrics, figures and training are those of run {base['base_run_id']} "
            f"(`reelgraph runs` and `reelgraph metrics` say so in their metrics_of column).\n"
        )
        published = publish_task(wh, record, prepared, retention)
    return {
        "run_id": run_id,
        "refresh_of": base["base_run_id"],
        **base["stats"],
        "publish": published,
    }
