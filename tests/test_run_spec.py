"""The run spec is the one definition of a pipeline run's settings: the CLI's flags, the
flow's parameters and prefect.yaml are built from it, and every model and training setting
is reachable."""

from __future__ import annotations

import dataclasses
import inspect
import json
from pathlib import Path

import pytest
import yaml

from reelgraph.cli.main import build_parser
from reelgraph.model.config import ModelConfig
from reelgraph.pipeline import run_spec
from reelgraph.pipeline.run_spec import RunSpec, SpecError
from reelgraph.train.config import TrainConfig
from reelgraph.tune.run_config import RunConfig, graphsage_settings

ROOT = Path(__file__).resolve().parents[1]


def _run_args(*argv: str) -> RunSpec:
    return run_spec.from_args(build_parser().parse_args(["run", *argv]))


def test_every_model_and_training_setting_is_a_flag() -> None:
    help_text = build_parser()._subparsers._group_actions[0].choices["run"].format_help()
    for cls, derived in (
        (ModelConfig, run_spec.DERIVED_MODEL),
        (TrainConfig, run_spec.DERIVED_TRAIN),
    ):
        for f in dataclasses.fields(cls):
            if f.name not in derived:
                assert "--" + f.name.replace("_", "-") in help_text, f.name


def test_flags_land_in_the_spec_and_unset_ones_stay_unset() -> None:
    spec = _run_args(
        "--dataset", "tiny", "--epochs", "3", "--hidden", "16", "--no-rank-in-batch",
        "--fanouts", "5,4", "--split", "temporal", "--baselines", "ease,popularity",
    )  # fmt: skip
    assert spec.dataset == "tiny" and spec.split == "temporal"
    assert spec.baselines == ["ease", "popularity"]
    assert spec.set_model() == {"hidden": 16}
    assert spec.set_train() == {"epochs": 3, "rank_in_batch": False, "fanouts": (5, 4)}
    assert _run_args().model_dump() == RunSpec().model_dump()


def test_precedence_defaults_then_config_then_the_spec() -> None:
    chosen = RunConfig(model={"hidden": 8, "dropout": 0.1}, train={"lr": 0.01})
    spec = RunSpec(seed=3, device="cpu", model={"hidden": 32}, train={"epochs": 5})
    model, train = graphsage_settings(chosen, spec)
    assert model == {"hidden": 32, "dropout": 0.1}
    assert train == {"lr": 0.01, "epochs": 5, "device": "cpu", "seed": 3}


def test_every_shipped_config_is_valid_and_the_default_of_its_dataset(tmp_path: Path) -> None:
    from reelgraph.tune import run_config

    shipped = sorted(run_config.PACKAGE_CONFIGS.glob("*.json"))
    assert {p.stem for p in shipped} >= {"ml-latest-small", "synthetic-25m"}
    for path in shipped:
        chosen = run_config.load(path)  # every key names a real setting, or it raises
        assert json.loads(path.read_text())["dataset"] == path.stem
        assert run_config.resolve(path.stem, None, tmp_path).path == str(path)
        TrainConfig(**chosen.train), ModelConfig(1, 1, 1, 1, **chosen.model)  # values in range


def test_the_flow_takes_exactly_the_spec_fields() -> None:
    from flows.pipeline_flow import pipeline_flow

    params = inspect.signature(pipeline_flow.fn).parameters
    assert list(params) == list(RunSpec.model_fields)
    assert params["k"].default == RunSpec().k == 20
    schema = pipeline_flow.parameters.model_dump()["properties"]
    assert set(schema) == set(RunSpec.model_fields)


def test_prefect_yaml_is_generated_from_the_spec() -> None:
    text = (ROOT / "prefect.yaml").read_text()
    assert run_spec.prefect_parameters() in text, "run: python -m reelgraph.pipeline.run_spec"
    deployment = next(
        d for d in yaml.safe_load(text)["deployments"] if d["name"] == "weekly-pipeline"
    )
    assert RunSpec(**deployment["parameters"]) == RunSpec()


@pytest.mark.parametrize(
    ("fields", "where"),
    [
        ({"modle": {}}, "modle"),
        ({"model": {"hiden": 3}}, "model.hiden"),
        ({"train": {"epochs": "many"}}, "train.epochs"),
        ({"split": "sideways"}, "split"),
    ],
)
def test_a_bad_field_is_one_line_naming_it(fields: dict, where: str) -> None:
    with pytest.raises(SpecError, match=f"run parameter {where}:") as err:
        run_spec.parse(fields)
    assert "\n" not in str(err.value)
