"""Settings chosen on validation (by `reelgraph tune`) that `reelgraph run` picks up.

A config file is JSON:

    {"dataset": "ml-latest-small",
     "graphsage": {"model": {ModelConfig fields}, "train": {TrainConfig fields}},
     "baselines": {"ease": {"reg": 300.0}, "lightgcn": {...}, ...},
     "tuning": {what chose them: split, trials, validation figures}}

`run` reads `--config FILE`; without one, the dataset's default: the last `reelgraph tune` of
it (`<outputs>/tuned/<dataset>.json`), else the file committed with the package
(`reelgraph/configs/<dataset>.json`, the tuning behind the README's figures), else the code's
defaults. Every key is checked against the settings it names before any work starts.

Imports nothing heavy: the command line validates a file before Prefect or torch load.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING

from reelgraph.core.errors import ReelgraphError
from reelgraph.pipeline import setting_bounds
from reelgraph.pipeline.setting_bounds import SettingError

if TYPE_CHECKING:
    from reelgraph.pipeline.run_spec import RunSpec

PACKAGE_CONFIGS = Path(__file__).resolve().parents[1] / "configs"  # reelgraph/configs


class ConfigError(ReelgraphError):
    pass


@dataclasses.dataclass(frozen=True)
class RunConfig:
    model: dict = dataclasses.field(default_factory=dict)  # ModelConfig overrides
    train: dict = dataclasses.field(default_factory=dict)  # TrainConfig overrides
    baselines: dict = dataclasses.field(default_factory=dict)  # name -> its settings
    tuning: dict = dataclasses.field(default_factory=dict)  # provenance, for people
    path: str | None = None  # where it was read from (None: the code's defaults)

    def to_json(self, dataset: str) -> str:
        body = {
            "dataset": dataset,
            "graphsage": {"model": self.model, "train": self.train},
            "baselines": self.baselines,
            "tuning": self.tuning,
        }
        return json.dumps(body, indent=2, sort_keys=False) + "\n"

    def save(self, path: str | Path, dataset: str) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(self.to_json(dataset))
        tmp.replace(path)
        return path


def load(path: str | Path) -> RunConfig:
    """The config file, every key checked against the settings it names."""
    config = read(path)
    check(config)
    return config


def read(path: str | Path) -> RunConfig:
    """The config file's sections, unchecked: what a machine with torch alone can read (the
    check needs the run spec, which needs pydantic; bench/bench_gpu.py reads shipped files)."""
    path = Path(path)
    try:
        body = json.loads(path.read_text(encoding="utf-8-sig"))  # Excel and Notepad write a BOM
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"config {path} is not UTF-8 text (byte {exc.start}); save it as UTF-8"
        ) from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"config {path} is not valid JSON (line {exc.lineno}): {exc.msg}"
        ) from exc
    if not isinstance(body, dict):
        raise ConfigError(f"config {path} must hold a JSON object")
    unknown = set(body) - {"dataset", "graphsage", "baselines", "tuning"}
    if unknown:
        raise ConfigError(f"config {path}: unknown section(s) {', '.join(sorted(unknown))}")
    sage = _section(path, body, "graphsage")
    baselines = _section(path, body, "baselines")
    return RunConfig(
        model=_section(path, sage, "model", "graphsage."),
        train=_section(path, sage, "train", "graphsage."),
        baselines={k: _section(path, baselines, k, "baselines.") for k in baselines},
        tuning=_section(path, body, "tuning"),
        path=str(path),
    )


def _section(path: Path, body: dict, key: str, prefix: str = "") -> dict:
    """body[key] as a dict (absent: empty); anything else is refused naming the section."""
    value = body.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(
            f"config {path}: {prefix}{key} must be a JSON object of settings, "
            f"got {type(value).__name__} {json.dumps(value)[:60]}"
        )
    return dict(value)


def check(config: RunConfig) -> None:
    """Every key names a setting a run may set (the same ones the run spec exposes)."""
    from reelgraph.evaluate.baselines import BASELINES
    from reelgraph.model.config import ModelConfig
    from reelgraph.pipeline.run_spec import DERIVED_MODEL, DERIVED_TRAIN
    from reelgraph.train.config import TrainConfig

    where = config.path or "the config"
    try:
        _check_values(config)
    except SettingError as exc:
        raise ConfigError(f"{where}: {exc}") from exc
    for section, cls, skip in (
        ("graphsage.model", ModelConfig, DERIVED_MODEL),
        ("graphsage.train", TrainConfig, DERIVED_TRAIN),
    ):
        allowed = {f.name for f in dataclasses.fields(cls)} - skip
        given = config.model if section.endswith("model") else config.train
        unknown = set(given) - allowed
        if unknown:
            raise ConfigError(
                f"{where}: {section} has no setting(s) {', '.join(sorted(unknown))}; "
                f"known: {', '.join(sorted(allowed))}"
            )
    for name, params in config.baselines.items():
        if name not in BASELINES:
            raise ConfigError(f"{where}: unknown baseline {name!r}; known: {', '.join(BASELINES)}")
        cls = BASELINES[name][1]
        allowed = {f.name for f in dataclasses.fields(cls)} if cls is not None else set()
        unknown = set(params) - allowed
        if unknown:
            raise ConfigError(
                f"{where}: baseline {name} has no setting(s) {', '.join(sorted(unknown))}"
            )


def _check_values(config: RunConfig) -> None:
    """Every value by its type and bounds (reelgraph.pipeline.setting_bounds)."""
    from reelgraph.evaluate.baselines import BASELINES
    from reelgraph.model.config import ModelConfig
    from reelgraph.train.config import TrainConfig

    setting_bounds.check("graphsage.model", ModelConfig, config.model)
    setting_bounds.check("graphsage.train", TrainConfig, config.train)
    for name, params in config.baselines.items():
        if name in BASELINES and BASELINES[name][1] is not None:
            setting_bounds.check(f"baselines.{name}", BASELINES[name][1], params)


def default_path(dataset: str, outputs: str | Path) -> Path | None:
    """The dataset's default config: its last tuning, else the one shipped with the package."""
    for path in (tuned_path(dataset, outputs), shipped_path(dataset)):
        if path.is_file():
            return path
    return None


def shipped_path(dataset: str) -> Path:
    """Where the package's config of the dataset is (it may have none)."""
    return PACKAGE_CONFIGS / f"{dataset}.json"


def read_shipped(dataset: str) -> RunConfig:
    """The package's config of the dataset, unchecked (`read`), or none (RunConfig()): what
    the benchmarks train a synthetic preset with, on machines without pydantic too."""
    path = shipped_path(dataset)
    return read(path) if path.is_file() else RunConfig()


def tuned_path(dataset: str, outputs: str | Path) -> Path:
    return Path(outputs) / "tuned" / f"{dataset}.json"


def resolve(dataset: str, explicit: str | Path | None, outputs: str | Path) -> RunConfig:
    """The config `run` uses: the explicit file, else the dataset's default, else none."""
    path = Path(explicit) if explicit else default_path(dataset, outputs)
    return load(path) if path is not None else RunConfig()


def graphsage_settings(chosen: RunConfig, spec: RunSpec) -> tuple[dict, dict]:
    """GraphSAGE's (model, training) settings of a run, in order of precedence: the code's
    defaults < the config file < the settings the run spec sets."""
    model = {**chosen.model, **spec.set_model()}
    train = {**chosen.train, **spec.set_train(), "device": spec.device, "seed": spec.seed}
    return model, train
