"""Where a run's fan-out tasks execute: in the flow's own process one after another (the
default), on a local Dask cluster of N worker processes (`--workers N`), or on a Dask cluster
that already runs (`--dask-address tcp://HOST:PORT`, or REELGRAPH_DASK_ADDRESS), through
Prefect's Dask task runner (prefect-dask).

Tasks on a cluster exchange file paths (the graph, the model) and small results (metric rows),
never large objects; the warehouse is written by one task in the flow's process, so the
single-writer rule and the atomic *_latest switch hold whatever runs the tasks.
"""

from __future__ import annotations

import os

from prefect.task_runners import ThreadPoolTaskRunner

DASK_ADDRESS_ENV = "REELGRAPH_DASK_ADDRESS"


def dask_address(explicit: str | None) -> str | None:
    return explicit or os.environ.get(DASK_ADDRESS_ENV) or None


def task_runner(workers: int = 0, address: str | None = None):  # noqa: ANN201 - a Prefect TaskRunner
    """The task runner of a fan-out stage. No cluster: one task at a time in this process (a
    one-thread pool), as the stage ran before it fanned out."""
    address = dask_address(address)
    if not workers and not address:
        return ThreadPoolTaskRunner(max_workers=1)
    from prefect_dask import DaskTaskRunner

    if address:
        return DaskTaskRunner(address=address)
    # One task per worker process, each worker's torch / BLAS threads sharing the cores.
    threads = str(max(1, (os.cpu_count() or 1) // workers))
    return DaskTaskRunner(
        cluster_kwargs={
            "n_workers": workers,
            "threads_per_worker": 1,
            "processes": True,
            "dashboard_address": None,
            "env": {"OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads},
        }
    )
