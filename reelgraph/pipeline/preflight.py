"""Checks of a command's inputs that can be made before any work starts.

A mistake found here costs nothing: no download, no ingest, no training, and the warehouse,
cache and outputs stay exactly as they were. Each check raises ParameterError with one line
naming the parameter (or folder) at fault and what to do instead. The command line calls these
before it starts Prefect; the flows call them again first thing, for deployments and the UI.

Imports nothing heavy at module level; the model-settings check imports torch, which `run`
needs anyway.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterable
from pathlib import Path

from reelgraph.core.errors import ParameterError
from reelgraph.ingest.datasets import dataset_name
from reelgraph.pipeline import setting_bounds

DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")
MAX_SEED = 2**32 - 1  # numpy's and torch's seeds are unsigned 32-bit


def at_least(flag: str, value: int | float | None, low: int | float) -> None:
    if value is not None and value < low:
        raise ParameterError(f"{flag} must be at least {low}, got {value}")


def list_length(k: int) -> None:
    """The K of published lists: 1-1000, as the readers take it."""
    if not 1 <= k <= 1000:
        raise ParameterError(f"--k must be between 1 and 1000, got {k}")


def seed_value(value: int) -> None:
    if not 0 <= value <= MAX_SEED:
        raise ParameterError(f"--seed must be between 0 and {MAX_SEED}, got {value}")


def fractions(val_fraction: float, test_fraction: float) -> None:
    for flag, v in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0.0 <= v < 1.0:
            raise ParameterError(f"{flag} must be in [0, 1), got {v}")
    if val_fraction + test_fraction >= 1.0:
        raise ParameterError(
            f"val_fraction + test_fraction must leave ratings to train on, got "
            f"{val_fraction} + {test_fraction}"
        )


def device(name: str) -> None:
    """A device spelled right and present on this machine (CUDA asked for without a GPU is
    refused here, not after the ingest and features)."""
    if not DEVICE.match(name):
        raise ParameterError(f"--device {name!r}: use auto, cpu, cuda or cuda:N")
    if not name.startswith("cuda"):
        return
    import torch

    if not torch.cuda.is_available():
        raise ParameterError(
            f"--device {name}: CUDA is not available on this machine; use --device cpu or auto"
        )
    index = int(name.split(":")[1]) if ":" in name else 0
    if index >= torch.cuda.device_count():
        raise ParameterError(
            f"--device {name}: this machine has {torch.cuda.device_count()} CUDA device(s)"
        )


def writable_dir(path: str | Path, flag: str) -> None:
    """The folder exists and is writable, or can be created: its nearest existing ancestor is a
    writable folder. Tried by creating (and at once removing) a nameless file there, since
    permission bits say nothing to root or about a read-only mount."""
    p = Path(path).absolute()
    probe = p
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise ParameterError(f"{flag} {path}: {probe} is a file, not a folder")
    try:
        with tempfile.TemporaryFile(dir=probe):
            pass
    except OSError as exc:
        what = "is" if probe == p else f"would be created in {probe}, which is"
        raise ParameterError(
            f"{flag} {path}: {what} not writable ({exc.strerror}); choose a folder you can write"
        ) from exc


def writable_file(path: str | Path, flag: str) -> None:
    """A file that can be written: opened for update (and closed untouched) if it exists, and
    its folder writable (DuckDB writes a .wal beside the warehouse)."""
    p = Path(path)
    if p.is_dir():
        raise ParameterError(f"{flag} {path} is a folder; give a file path, e.g. data/w.duckdb")
    if p.exists():
        try:
            with open(p, "r+b"):
                pass
        except OSError as exc:
            raise ParameterError(
                f"{flag} {path} cannot be written ({exc.strerror}); choose a file you can write"
            ) from exc
    writable_dir(p.parent, f"{flag} {path}: its folder")


def names(flag: str, given: Iterable[str] | None, known: Iterable[str]) -> None:
    unknown = sorted(set(given or ()) - set(known))
    if unknown:
        raise ParameterError(f"{flag}: unknown {', '.join(unknown)}; known: {', '.join(known)}")


def model_settings(model: dict, train: dict) -> None:
    """Every GraphSAGE setting (from the CLI, a config file or the run spec) as the model would
    take it: a bad one (hidden 0, epochs 0, dropout 1.5, a misspelt name) is refused before the
    ingest instead of during training, naming its flag and its run-spec field."""
    import dataclasses

    from reelgraph.model.config import ModelConfig
    from reelgraph.train.config import TrainConfig

    for group, build in (
        ("model", lambda: ModelConfig(n_users=1, n_movies=1, user_in=1, movie_in=1, **model)),
        ("train", lambda: TrainConfig(**train)),
    ):
        try:
            cls = ModelConfig if group == "model" else TrainConfig
            setting_bounds.check(group, cls, model if group == "model" else train)
        except setting_bounds.SettingError as exc:
            name = str(exc).split(" ", 1)[0].split(".", 1)[1]
            raise ParameterError(f"GraphSAGE setting --{name.replace('_', '-')} ({exc})") from exc
        try:
            build()
        except (TypeError, ValueError) as exc:
            message = str(exc)
            cls = ModelConfig if group == "model" else TrainConfig
            name = message.split(" ", 1)[0]
            if name in {f.name for f in dataclasses.fields(cls)}:  # "hidden must be ..."
                message = f"--{name.replace('_', '-')} ({group}.{name}){message[len(name) :]}"
            raise ParameterError(f"GraphSAGE {group} setting {message}") from exc


def dask_cluster(workers: int, address: str | None) -> None:
    """A cluster asked for (--workers, --dask-address or REELGRAPH_DASK_ADDRESS) needs
    prefect-dask, and an address Dask understands."""
    if workers < 0:
        raise ParameterError(f"--workers must be 0 or more, got {workers}")
    if not workers and not address:
        return
    if address is not None and not re.match(r"^(tcp|tls|ucx|inproc)://[^\s/]+$", address):
        raise ParameterError(
            f"--dask-address {address!r}: use tcp://HOST:PORT (a Dask scheduler's address)"
        )
    try:
        import prefect_dask  # noqa: F401
    except ImportError:
        raise ParameterError(
            "--workers / --dask-address need prefect-dask (pip install prefect-dask)"
        ) from None


def ingest_inputs(
    *,
    dataset: str,
    source: str | None,
    warehouse: str | None,
    cache_dir: str | None = None,
    max_reject_fraction: float = 0.01,
    **_: object,
) -> None:
    """What any command that ingests needs: a safe dataset name, a source that exists, and a
    warehouse and download cache it can write. Other keywords are ignored, so a flow's or a
    command's parameters can be passed whole."""
    from reelgraph.core import settings

    dataset_name(dataset)
    src = settings.source(source)
    if src is not None and not Path(src).exists():
        raise ParameterError(f"--source {src}: no such file or folder")
    if src is not None and Path(src).is_dir():
        has_rows(Path(src))
    if not 0.0 <= max_reject_fraction <= 1.0:
        raise ParameterError(
            f"--max-reject-fraction must be within [0, 1], got {max_reject_fraction}"
        )
    writable_file(settings.warehouse_path(warehouse), "--warehouse")
    writable_dir(settings.cache_dir(cache_dir), f"the download cache (${settings.CACHE_ENV})")
    from reelgraph.ingest.load import check_warehouse_accepts

    check_warehouse_accepts(settings.warehouse_path(warehouse), dataset)


def has_rows(folder: Path) -> None:
    """A source folder's ratings and movies files hold at least one line besides the header:
    a header-only export is refused here, before Prefect starts, instead of by the ingest
    (which refuses it too, for callers that skip this check). Reads two lines of each."""
    for name in ("ratings.csv", "movies.csv"):
        path = folder / name
        if not path.is_file():
            continue  # the release's own layout (a sub-folder) is the ingest's to find
        with path.open("rb") as fh:
            lines = [line for line in (fh.readline(), fh.readline()) if line.strip()]
        if len(lines) < 2:
            raise ParameterError(
                f"{path}: no data rows (only a header?); nothing was ingested or changed"
            )


def download_reachable(dataset: str, source: str | None, cache_dir: str | None = None) -> None:
    """Without a source the release is downloaded: an unknown name, or a host this machine
    cannot reach (offline, DNS down), is said in one line now, not after minutes of retries.
    The last check (the only one that touches the network)."""
    from reelgraph.core import settings
    from reelgraph.ingest import datasets

    if settings.source(source) is not None:
        return
    cache = settings.cache_dir(cache_dir)
    url = datasets.release_url(dataset)
    if url is None:
        raise ParameterError(datasets.unknown_release(dataset))
    try:
        datasets.check_reachable(url)
    except datasets.OfflineError as exc:
        cached = Path(cache) / f"{dataset}.zip"
        if cached.is_file():
            raise datasets.OfflineError(
                f"{exc}; a cached {cached} exists: --source {cached} uses it unverified"
            ) from exc
        raise


def split_inputs(
    *, split: str, seed: int, n_users: int | None, val_fraction: float, test_fraction: float
) -> None:
    seed_value(seed)
    fractions(val_fraction, test_fraction)
    at_least("--n-users", n_users, 1)
    if split == "user_subgraph" and n_users is None:
        raise ParameterError("--split user_subgraph needs --n-users N (the report used 10000)")


def run_inputs(
    *,
    dataset: str,
    source: str | None,
    warehouse: str | None,
    outputs: str | None,
    split: str,
    seed: int,
    n_users: int | None,
    val_fraction: float,
    test_fraction: float,
    **_: object,
) -> None:
    """What `run` and `tune` share: the data, its split, and the folders they write. Other
    keywords are ignored, so a flow's parameters can be passed whole."""
    from reelgraph.core import settings

    ingest_inputs(dataset=dataset, source=source, warehouse=warehouse)
    split_inputs(
        split=split,
        seed=seed,
        n_users=n_users,
        val_fraction=val_fraction,
        test_fraction=test_fraction,
    )
    writable_dir(settings.outputs_dir(outputs), "--outputs")
