"""One typed spec of a pipeline run: the data, the split, the features, GraphSAGE's model and
training settings, and what is published. Everything else is built from it:

- `pipeline_flow`'s parameters (so Prefect's UI, the deployments and `prefect deployment run
  --param source=...` show and take exactly these fields; `flows/pipeline_flow.py`);
- `reelgraph run`'s flags (`add_arguments` / `from_args`): one flag per field, every model and
  training setting included;
- the `weekly-pipeline` parameters in prefect.yaml (`python -m reelgraph.pipeline.run_spec` rewrites
  them; a test fails when the file is out of date);
- the `spec` column of ops.runs, which stores the whole spec of each published run.

Model and training settings default to None, meaning "the dataset's tuned config, else the
code's default": the defaults live once, in ModelConfig and TrainConfig. Imports nothing heavy.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import re
import sys
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from reelgraph.core.errors import ReelgraphError
from reelgraph.model.config import ModelConfig
from reelgraph.train.config import TrainConfig

# ModelConfig fields the graph decides; TrainConfig fields the run spec's own seed and device set.
DERIVED_MODEL = {
    "n_users",
    "n_movies",
    "user_in",
    "movie_in",
    "global_mean",
    "rating_min",
    "rating_max",
}
DERIVED_TRAIN = {"device", "seed"}


class SpecError(ReelgraphError):
    pass


def _settings_model(name: str, cls: type, skip: set[str], doc: str) -> type[BaseModel]:
    """A pydantic model of cls's fields, each optional (None: the config file or cls's default)."""
    hints = typing.get_type_hints(cls)
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        annotation = hints[f.name]
        if type(None) not in typing.get_args(annotation):
            annotation = annotation | None
        fields[f.name] = (
            annotation,
            Field(None, description=f"{cls.__name__} default {f.default!r}"),
        )
    return create_model(name, __config__=ConfigDict(extra="forbid"), __doc__=doc, **fields)


ModelSettings = _settings_model(
    "ModelSettings",
    ModelConfig,
    DERIVED_MODEL,
    "GraphSAGE model settings (reelgraph.model.config).",
)
TrainSettings = _settings_model(
    "TrainSettings", TrainConfig, DERIVED_TRAIN, "Training settings (reelgraph.train.config)."
)


class FeatureSettings(BaseModel):
    """Feature settings (reelgraph.features.tables.FeatureParams)."""

    model_config = ConfigDict(extra="forbid")
    shrinkage: float | None = Field(
        None, ge=0, description="pseudo-ratings at the global mean added to each movie's mean"
    )


class RunSpec(BaseModel):
    """Everything that decides a pipeline run."""

    model_config = ConfigDict(extra="forbid")

    dataset: str = Field(
        "ml-latest-small",
        description="ml-latest-small | ml-25m | ml-20m | ml-latest | any name with source",
    )
    source: str | None = Field(
        None,
        description="a local folder or zip instead of downloading (offline machines); "
        "default $REELGRAPH_SOURCE",
    )
    warehouse: str | None = Field(
        None, description="DuckDB file; default data/reelgraph.duckdb or $REELGRAPH_WAREHOUSE"
    )
    outputs: str | None = Field(
        None, description="outputs folder; default outputs/ or $REELGRAPH_OUTPUTS"
    )
    split: Literal["random", "temporal", "user_subgraph"] = Field(
        "random", description="split protocol (user_subgraph: set n_users)"
    )
    val_fraction: float = Field(0.1, description="share of ratings for validation")
    test_fraction: float = Field(0.1, description="share of ratings for the test")
    n_users: int | None = Field(None, description="user_subgraph: how many users to sample")
    seed: int = Field(0, description="seed of the split, the features and training")
    config: str | None = Field(
        None, description="settings file from `reelgraph tune`; default: the dataset's tuned one"
    )
    refit: bool = Field(True, description="publish lists from the model refit on every rating")
    refit_share: float = Field(
        0.25,
        ge=0.0,
        le=1.0,
        description="the refit starts from the evaluated model's weights and trains this share "
        "of the epochs chosen on validation (at least one); 0: from scratch, every chosen epoch",
    )
    device: str = Field("auto", description="auto (CUDA when present, else CPU) | cpu | cuda[:N]")
    k: int = Field(20, description="length of each user's recommendation list")
    baselines: list[str] | None = Field(
        None,
        description="baselines to compare (default: all; lightgcn is slow beyond a few "
        "million ratings on CPU)",
    )
    retention: int = Field(5, description="published runs kept per dataset (the latest always)")
    gate: bool = Field(
        True,
        description="publish gate: a run whose GraphSAGE is worse than the latest run's (on "
        "ratings neither trained on) is held, not made the latest; --no-gate publishes regardless",
    )
    gate_tolerance: float = Field(
        0.02,
        ge=0.0,
        lt=1.0,
        description="how much worse (relative) NDCG@20 or RMSE may be before the gate holds a run",
    )
    force: bool = Field(False, description="recompute ingest, split and features")
    max_drift: bool = Field(
        False,
        description="refuse new data whose profile moved past the drift bounds since the "
        "dataset's previous ingest (default: load it with a warning and a data-drift artifact)",
    )
    workers: int = Field(
        0, ge=0, description="evaluate on a local Dask cluster of this many processes (0: none)"
    )
    dask_address: str | None = Field(
        None,
        description="evaluate on this Dask cluster (tcp://HOST:PORT); default "
        "$REELGRAPH_DASK_ADDRESS",
    )
    features: FeatureSettings = Field(default_factory=FeatureSettings)
    model: ModelSettings = Field(default_factory=ModelSettings)  # type: ignore[valid-type]
    train: TrainSettings = Field(default_factory=TrainSettings)  # type: ignore[valid-type]

    def set_model(self) -> dict:
        """The model settings this spec sets (over the config file and the code's defaults)."""
        return self.model.model_dump(exclude_none=True)

    def set_train(self) -> dict:
        return self.train.model_dump(exclude_none=True)


def parse(fields: dict) -> RunSpec:
    """A RunSpec from flow parameters or a JSON object; a bad one is one line naming the field."""
    try:
        return RunSpec(**fields)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise SpecError(f"run parameter {where}: {err['msg']}") from None


def flow_signature(returns: type = dict) -> inspect.Signature:
    """The spec's fields as keyword parameters: what `pipeline_flow` shows Prefect."""
    params = [
        inspect.Parameter(
            name,
            inspect.Parameter.KEYWORD_ONLY,
            default=f.default_factory() if f.default_factory else f.default,
            annotation=f.annotation,
        )
        for name, f in RunSpec.model_fields.items()
    ]
    return inspect.Signature(params, return_annotation=returns)


def with_spec_parameters(fn: Callable[..., dict]) -> Callable[..., dict]:
    """fn(**fields) shown to Prefect (and inspect) with the spec's fields as its parameters."""
    signature = flow_signature()
    fn.__signature__ = signature  # type: ignore[attr-defined]
    fn.__annotations__ = {
        **{n: p.annotation for n, p in signature.parameters.items()},
        "return": signature.return_annotation,
    }
    return fn


# ------------------------------------------------------------------ the command line

_GROUPS = ("features", "model", "train")  # nested settings; every other field is the run's own


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _argument(annotation: Any) -> dict:
    """argparse keywords for a field's type."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    base = (
        args[0] if typing.get_origin(annotation) in (typing.Union, type(int | None)) else annotation
    )
    if base is bool:
        return {"action": argparse.BooleanOptionalAction, "metavar": None}
    if typing.get_origin(base) is Literal:
        return {"choices": list(typing.get_args(base))}
    if typing.get_origin(base) in (tuple, list):
        return {"type": _comma_list, "metavar": "A,B"}
    return {"type": base}


def _comma_list(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per spec field: the run's own, then each settings group's, help from the spec."""
    for name, f in RunSpec.model_fields.items():
        if name in _GROUPS:
            continue
        parser.add_argument(
            _flag(name),
            dest=name,
            default=None,
            help=f.description + ("" if f.default is None else f" (default: {f.default})"),
            **_argument(f.annotation),
        )
    for group in _GROUPS:
        model = RunSpec.model_fields[group].annotation
        title = {"features": "features", "model": "GraphSAGE model", "train": "GraphSAGE training"}
        section = parser.add_argument_group(
            f"{title[group]} settings",
            "unset: the dataset's tuned config (reelgraph tune), else the code's default",
        )
        for name, f in model.model_fields.items():
            section.add_argument(
                _flag(name),
                dest=f"{group}.{name}",
                default=None,
                help=f.description,
                **{"metavar": name.upper(), **_argument(f.annotation)},
            )


def from_args(args: argparse.Namespace) -> RunSpec:
    """The spec of `reelgraph run`'s flags: the flags given, the spec's defaults for the rest."""
    given = vars(args)
    fields: dict[str, Any] = {
        n: given[n] for n in RunSpec.model_fields if n not in _GROUPS and given.get(n) is not None
    }
    for group in _GROUPS:
        prefix = f"{group}."
        fields[group] = {
            k[len(prefix) :]: v for k, v in given.items() if k.startswith(prefix) and v is not None
        }
    return parse(fields)


# ------------------------------------------------------------------ prefect.yaml

BEGIN, END = "      # BEGIN run spec", "      # END run spec"


def prefect_parameters() -> str:
    """The weekly-pipeline deployment's parameters: every run field at its default, with its
    description; the settings groups empty (unset: the tuned config, else the code's defaults)."""
    lines = [
        BEGIN
        + " (generated from reelgraph/pipeline/run_spec.py: python -m reelgraph.pipeline.run_spec)"
    ]
    for name, f in RunSpec.model_fields.items():
        value = {} if name in _GROUPS else f.default
        comment = f.description or (
            f.annotation.__doc__.strip() + " Unset fields: the tuned config, else the default."
        )
        lines.append(f"      {name}: {json.dumps(value)}  # {comment}")
    return "\n".join([*lines, END])


def write_prefect_yaml(path: Path) -> bool:
    """Rewrite the generated block of path; True when it changed."""
    text = path.read_text()
    block = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END), re.S)
    new = block.sub(lambda _: prefect_parameters(), text, count=1)
    if new != text:
        path.write_text(new)
    return new != text


if __name__ == "__main__":  # python -m reelgraph.pipeline.run_spec [prefect.yaml]
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "prefect.yaml")
    print(f"{target}: {'updated' if write_prefect_yaml(target) else 'already up to date'}")
