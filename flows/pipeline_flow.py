from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from pathlib import Path

from prefect import flow, runtime
from prefect.artifacts import create_markdown_artifact

from flows.evaluate_flow import evaluate_flow
from flows.features_flow import features_flow
from flows.ingest_flow import ingest_flow
from flows.publish_flow import publish_flow
from flows.train_flow import train_flow
from reelgraph.core import memory, runs, settings
from reelgraph.core.run_layout import RunLayout
from reelgraph.pipeline import fanout, preflight, run_spec
from reelgraph.pipeline.run_spec import RunSpec
from reelgraph.serve import publish_gate, run_summary
from reelgraph.train.config import chosen_after_training, refit_epochs, refit_settings
from reelgraph.tune import run_config
from tasks.publish_tasks import run_diff_task


def _pipeline_flow(**fields: object) -> dict:
    """The whole job, top to bottom: acquire -> ingest -> split -> features -> train ->
    evaluate -> refit on every rating -> publish -> figures. Every stage is also a flow.

    The parameters are the fields of reelgraph.pipeline.run_spec.RunSpec. GraphSAGE's settings: the
    code's defaults, then the config file (`config`, else the dataset's tuned default, see
    reelgraph.tune.run_config), then the `model` / `train` settings the run sets."""
    spec = run_spec.parse(fields)
    run_id = runs.new_run_id()
    started = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    chosen, model_settings, train_settings = check_pipeline(spec)
    run_dir = RunLayout.of(settings.outputs_dir(spec.outputs), run_id).dir
    with runs.in_progress(run_dir, settings.warehouse_path(spec.warehouse)):
        stages = _Stages(spec, run_id)
        return stages.run(started, chosen, model_settings, train_settings)


pipeline_flow = flow(name="pipeline")(run_spec.with_spec_parameters(_pipeline_flow))


def _model_files(trained: dict) -> dict[str, str]:
    """The graph and model files a trained model's manifest names, as a stage flow takes them."""
    return {"graph_path": trained["graph_path"], "model_path": trained["model_path"]}


class _Stages:
    """The stages of one pipeline run, in order, each timed."""

    def __init__(self, spec: RunSpec, run_id: str) -> None:
        self.spec, self.run_id = spec, run_id
        self.timings: dict[str, float] = {}

    def task_runner(self):  # noqa: ANN201 - a Prefect TaskRunner
        """Where a fan-out stage's tasks run (evaluate, publish): its own local cluster of
        `workers` processes, closed when the stage ends, the cluster at `dask_address`, or this
        process."""
        return fanout.task_runner(self.spec.workers, self.spec.dask_address)

    def timed(self, stage: str, fn: Callable[..., dict], **kw: object) -> dict:
        """Runs one stage, timed; glibc keeps its freed memory for reuse until it ends (at 25m
        the stages' fresh pages were a sixth of the run's CPU time; reelgraph.core.memory)."""
        t = time.perf_counter()
        with memory.keep_freed_memory():
            out = fn(**kw)
        self.timings[stage] = round(time.perf_counter() - t, 2)
        return out

    def split_and_features(self, stage: str, val: float, test: float) -> dict:
        spec = self.spec
        shrinkage = spec.features.shrinkage
        return self.timed(
            stage,
            features_flow,
            warehouse=spec.warehouse,
            protocol=spec.split,
            val_fraction=val,
            test_fraction=test,
            seed=spec.seed,
            n_users=spec.n_users,
            force=spec.force,
            **({} if shrinkage is None else {"shrinkage": shrinkage}),
        )

    def train(self, stage: str, split_id: str, model: dict, train: dict, **kw: object) -> dict:
        return self.timed(
            stage,
            train_flow,
            split_id=split_id,
            warehouse=self.spec.warehouse,
            outputs=self.spec.outputs,
            run_id=self.run_id,
            model_params=model,
            train_params=train,
            **kw,
        )

    def refit(self, trained: dict, model_settings: dict, train_settings: dict) -> dict:
        """The lists people see come from the same settings, refit on every rating (validation
        and test too): the evaluated model never saw those."""
        share = self.spec.refit_share
        everything = self.split_and_features("refit split+features", 0.0, 0.0)
        epochs = refit_epochs(trained["best_epoch"], trained["best_rank_epoch"], share)
        return self.train(
            "refit",
            everything["split"]["split_id"],
            model_settings,
            refit_settings(
                train_settings,
                trained["best_rates"],
                share,
                chosen_after_training(trained["item_filter"], trained["popularity_penalty"]),
            ),
            fixed_epochs=list(epochs),
            name="model",
            warm_start=trained["model_path"] if share > 0 else None,
        )

    def run(
        self,
        started: dt.datetime,
        chosen: run_config.RunConfig,
        model_settings: dict,
        train_settings: dict,
    ) -> dict:
        spec, run_id = self.spec, self.run_id
        ingested = self.timed(
            "ingest",
            ingest_flow,
            dataset=spec.dataset,
            source=spec.source,
            warehouse=spec.warehouse,
            force=spec.force,
            max_drift=spec.max_drift,
        )
        feats = self.split_and_features("split+features", spec.val_fraction, spec.test_fraction)
        split_id = feats["split"]["split_id"]
        trained = self.train("train", split_id, model_settings, train_settings, name="eval_model")
        evaluated = self.timed(
            "evaluate",
            evaluate_flow.with_options(task_runner=self.task_runner()),
            run_id=run_id,
            **_model_files(trained),
            warehouse=spec.warehouse,
            outputs=spec.outputs,
            k_values=sorted({10, spec.k}),
            models=spec.baselines,
            baseline_params=chosen.baselines,
            device=spec.device,
            seed=spec.seed,
        )
        served = self.refit(trained, model_settings, train_settings) if spec.refit else trained
        record = self.record(
            ingested, trained, served, started, chosen, model_settings, train_settings
        )
        published = self.timed(
            "publish+figures",
            publish_flow.with_options(task_runner=self.task_runner()),
            record=record,
            **_model_files(served),
            split=feats["split"],
            train=trained,
            served=served if spec.refit else None,
            warehouse=spec.warehouse,
            outputs=spec.outputs,
            k=spec.k,
            retention=spec.retention,
            device=spec.device,
            gate=spec.gate,
            gate_tolerance=spec.gate_tolerance,
        )
        self.summarise(published, trained)
        return {
            "run_id": run_id,
            "ingest": ingested,
            **feats,
            "train": trained,
            "evaluate": evaluated,
            "refit": served if spec.refit else None,
            "publish": published,
            "timings": self.timings,
            "config_file": chosen.path,
        }

    def record(
        self,
        ingested: dict,
        trained: dict,
        served: dict,
        started: dt.datetime,
        chosen: run_config.RunConfig,
        model_settings: dict,
        train_settings: dict,
    ) -> dict:
        """The run's row of ops.runs: the spec whole, what it resolved to, and its files."""
        return {
            "run_id": self.run_id,
            "dataset": self.spec.dataset,
            "data_checksum": ingested["data_checksum"],
            "split_id": served["split_id"],
            "spec": self.spec.model_dump(mode="json"),
            "params": {
                "eval_split_id": trained["split_id"],
                # what a later run's publish gate compares itself with
                "eval_graph_path": trained["graph_path"],
                "eval_model_path": trained["model_path"],
                "config_file": chosen.path,
                "model_settings": model_settings,
                "train_settings": train_settings,
            },
            "graph_path": served["graph_path"],
            "model_path": served["model_path"],
            "seed": self.spec.seed,
            "device": trained["device"],
            "timings": self.timings,
            "started_at": started.isoformat(),
            "flow_run_id": str(runtime.flow_run.id or ""),
        }

    def summarise(self, published: dict, trained: dict) -> None:
        # The terminal gets the warning once, from the command line; the UI here, on the page.
        warning = run_summary.budget_warning(trained)
        gate = published["gate"]
        held = publish_gate.describe(self.run_id, gate) if gate["held"] else None
        create_markdown_artifact(
            run_summary.pipeline_summary(
                self.run_id,
                self.spec.dataset,
                run_summary.lists_source(self.spec.refit),
                self.timings,
                RunLayout(Path(published["run_dir"])).comparison.read_text(),
                published["figures"],
                warnings=tuple(w for w in (held, warning) if w),
            ),
            key="pipeline-summary",
            description=f"run {self.run_id}",
        )
        wh = str(settings.warehouse_path(self.spec.warehouse))
        run_diff_task(wh, self.run_id, gate.get("latest") or gate.get("against"))


def check_pipeline(spec: RunSpec) -> tuple[run_config.RunConfig, dict, dict]:
    """Every parameter of a pipeline run checked before any work starts (the command line
    calls this before Prefect starts; the flow again for deployments); returns the resolved
    config and GraphSAGE's model and training settings."""
    preflight.run_inputs(**dict(spec))
    preflight.list_length(spec.k)
    preflight.at_least("retention", spec.retention, 1)
    preflight.names("--baselines", spec.baselines, settings.DEFAULT_BASELINES)
    preflight.device(spec.device)
    preflight.dask_cluster(spec.workers, fanout.dask_address(spec.dask_address))
    chosen = run_config.resolve(spec.dataset, spec.config, settings.outputs_dir(spec.outputs))
    model, train = run_config.graphsage_settings(chosen, spec)
    preflight.model_settings(model, train)
    preflight.download_reachable(spec.dataset, spec.source)
    return chosen, model, train
