"""Settings search on the validation split only (Optuna's TPE sampler, seeded).

Every ranking model gets the same budget of trials: GraphSAGE (its ranking and training
settings) and each baseline that ranks (EASE, RP3beta, GF-CF, LightGCN, BPR-MF, iALS). A trial trains on the
split's train part and is scored by NDCG@20 on the validation part, through the same probe
training uses to pick an epoch. The graph a trial sees has its test part removed before the
first trial, so no setting can depend on a test rating; the test split is read once, by the
evaluation of `reelgraph run` with the chosen settings.

GraphSAGE's rating output keeps its own selection (the epoch of best validation RMSE) and its
settings are not searched here: the search is for the list.

Imports only torch / torch_geometric / numpy / optuna.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import tempfile
import time
from collections.abc import Callable

import torch

from reelgraph.core.errors import ReelgraphError
from reelgraph.core.settings import TUNABLE
from reelgraph.evaluate import baselines
from reelgraph.evaluate.probe import ValidationProbe
from reelgraph.graph.ratings import RatingGraph
from reelgraph.model.saved import default_model_config
from reelgraph.model.top_k import scores_into
from reelgraph.train.config import TrainConfig
from reelgraph.train.fit import train

log = logging.getLogger(__name__)


@dataclasses.dataclass
class Trial:
    model: str
    number: int
    params: dict
    value: float  # validation NDCG@20 (nan when the trial failed)
    seconds: float
    extra: dict  # what else the trial measured (epochs chosen, validation RMSE)
    error: str | None = None


@dataclasses.dataclass
class TuneResult:
    model: str
    best_params: dict
    best_value: float
    trials: list[Trial]


def without_test(graph: RatingGraph) -> RatingGraph:
    """The graph with its test part emptied: what every trial is allowed to see."""
    return dataclasses.replace(graph, edges={**graph.edges, "test": torch.zeros(3, 0)})


def graphsage_space(trial) -> dict:  # noqa: ANN001 - optuna.Trial
    """GraphSAGE's ranking-path settings: model settings under "model", training under "train"."""
    return {
        "model": {
            "rank_dim": trial.suggest_categorical("rank_dim", [32, 64, 128]),
            "rank_temperature": trial.suggest_float("rank_temperature", 0.1, 0.5, log=True),
            "rank_init_scale": trial.suggest_categorical("rank_init_scale", [0.1, 0.03, 0.3]),
            "rank_aggr": trial.suggest_categorical("rank_aggr", ["mean", "sym"]),
            "rank_combine": trial.suggest_categorical("rank_combine", ["last", "mean"]),
            "rank_dropout": trial.suggest_float("rank_dropout", 0.0, 0.3),
        },
        "train": {
            "rank_lr": trial.suggest_float("rank_lr", 2e-3, 3e-2, log=True),
            "rank_weight_decay": trial.suggest_categorical(
                "rank_weight_decay", [0.0, 1e-4, 1e-3, 1e-2, 5e-2]
            ),
            "rank_threshold": trial.suggest_categorical("rank_threshold", [0.5, 3.0, 3.5, 4.0]),
            "message_fraction": trial.suggest_categorical("message_fraction", [0.75, 1.0]),
        },
    }


SPACES: dict[str, Callable] = {
    "graphsage": graphsage_space,
    "ease": lambda t: {"reg": t.suggest_float("reg", 10.0, 5000.0, log=True)},
    "rp3beta": lambda t: {
        "alpha": t.suggest_float("alpha", 0.2, 1.5),
        "beta": t.suggest_float("beta", 0.0, 1.0),
        "neighbours": t.suggest_categorical("neighbours", [50, 100, 200, 500, 0]),
        "threshold": t.suggest_categorical("threshold", [0.5, 3.5, 4.0]),
    },
    "gf_cf": lambda t: {
        "alpha": t.suggest_float("alpha", 0.0, 1.5),
        "k": t.suggest_categorical("k", [32, 64, 128, 256, 512]),
        "threshold": t.suggest_categorical("threshold", [0.5, 3.5, 4.0]),
    },
    "lightgcn": lambda t: {
        "lr": t.suggest_float("lr", 1e-3, 3e-2, log=True),
        "layers": t.suggest_int("layers", 1, 4),
        "reg": t.suggest_float("reg", 1e-6, 1e-2, log=True),
        "dim": t.suggest_categorical("dim", [32, 64, 128]),
        "threshold": t.suggest_categorical("threshold", [0.5, 3.5, 4.0]),
    },
    "bpr_mf": lambda t: {
        "lr": t.suggest_float("lr", 1e-3, 5e-2, log=True),
        "reg": t.suggest_float("reg", 1e-6, 1e-1, log=True),
        "dim": t.suggest_categorical("dim", [32, 64, 128]),
        "threshold": t.suggest_categorical("threshold", [0.5, 3.5, 4.0]),
    },
    "ials": lambda t: {
        "factors": t.suggest_categorical("factors", [32, 64, 128, 256]),
        "regularization": t.suggest_float("regularization", 1e-3, 10.0, log=True),
        "alpha": t.suggest_float("alpha", 0.1, 50.0, log=True),
        "iterations": t.suggest_int("iterations", 5, 30),
        "threshold": t.suggest_categorical("threshold", [0.5, 3.5, 4.0]),
    },
}


def default_trial(model: str) -> dict:
    """The code's defaults as a first trial (flat, as the search space names them): a tuned
    setting is then never worse on validation than the defaults, for every model alike."""
    if model == "graphsage":
        from reelgraph.model.recommender import ModelConfig
        from reelgraph.train.config import TrainConfig

        probe = graphsage_space(_Recorder())
        fields = {**probe["model"], **probe["train"]}
        defaults = {f.name: f.default for f in dataclasses.fields(ModelConfig)}
        defaults |= {f.name: f.default for f in dataclasses.fields(TrainConfig)}
        return {k: defaults[k] for k in fields}
    cls = baselines.BASELINES[model][1]
    names = set(SPACES[model](_Recorder()))
    return {f.name: f.default for f in dataclasses.fields(cls) if f.name in names}


class _Recorder:
    """A stand-in for optuna.Trial that answers each suggestion with its first option: used
    only to learn which settings a search space names."""

    def suggest_categorical(self, name: str, choices: list) -> object:
        return choices[0]

    def suggest_float(self, name: str, low: float, high: float, log: bool = False) -> float:
        return low

    def suggest_int(self, name: str, low: int, high: int) -> int:
        return low


def evaluate_trial(
    model: str,
    params: dict,
    graph: RatingGraph,
    probe: ValidationProbe,
    seed: int,
    base: dict | None = None,
) -> tuple[float, dict]:
    """(validation NDCG@20, extra figures) of one setting. graph: test part removed. base:
    GraphSAGE settings the search does not touch ({"model": ..., "train": ...})."""
    if model == "graphsage":
        base = base or {}
        with tempfile.TemporaryDirectory(prefix="reelgraph-trial-") as work:
            cfg = TrainConfig(
                **{**base.get("train", {}), **params["train"]},
                seed=seed,
                train_rating=False,  # the search is for the list
                device="auto",
                checkpoint_every=10**9,
                log_every=10**9,
            )
            model_cfg = default_model_config(graph, **{**base.get("model", {}), **params["model"]})
            r = train(graph, work, cfg, model_cfg, resume=False)
        # The list people get is the fused score when the model has the item filter: judged so.
        curve = r.item_filter.get("val_ndcg")
        value = max(curve.values()) if curve else float(r.best_val_ndcg or 0.0)
        return value, {
            "best_rank_epoch": r.best_rank_epoch,
            "best_epoch": r.best_epoch,
            "filter_weight": r.item_filter.get("weight"),
        }
    rec = baselines.build_baseline(model, graph, params, seed)
    value = probe.ndcg(scores_into(rec), graph.n_movies)
    return value, {"best_epoch": getattr(rec, "best_epoch", None)}


def tune(
    model: str,
    graph: RatingGraph,
    trials: int,
    seed: int = 0,
    base: dict | None = None,
    on_trial: Callable[[Trial], None] | None = None,
) -> TuneResult:
    """`trials` settings of one model, each scored on validation; the best one wins."""
    import optuna

    if model not in SPACES:
        raise ValueError(f"cannot tune {model!r}; tunable: {', '.join(TUNABLE)}")
    if trials < 1:
        raise ValueError(f"trials must be at least 1, got {trials}")
    graph = without_test(graph)
    probe = ValidationProbe.build(graph, max_users=10**9, seed=seed)
    if probe is None:
        raise ValueError("the split has no relevant validation rating to tune on")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.enqueue_trial(default_trial(model))
    done: list[Trial] = []

    def objective(trial) -> float:  # noqa: ANN001
        params = SPACES[model](trial)
        t = time.perf_counter()
        try:
            value, extra = evaluate_trial(model, params, graph, probe, seed, base)
            error = None
        except (ValueError, ReelgraphError) as exc:  # a setting that cannot train: search on
            value, extra, error = math.nan, {}, str(exc).splitlines()[0]
        record = Trial(model, trial.number, params, value, time.perf_counter() - t, extra, error)
        done.append(record)
        if on_trial is not None:
            on_trial(record)
        log.info("%s trial %d: validation NDCG@20 %.4f %s", model, trial.number, value, params)
        return value if error is None else -1.0

    study.optimize(objective, n_trials=trials)
    scored = [t for t in done if t.error is None]
    if not scored:
        raise RuntimeError(f"every {model} trial failed; the first: {done[0].error}")
    best = max(scored, key=lambda t: t.value)
    return TuneResult(model, best.params, best.value, done)
