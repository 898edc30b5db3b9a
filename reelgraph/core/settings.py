"""Where project state lives. Every path is overridable by a flag or environment variable.

Defaults are relative to the current directory, so `make run` from the project root keeps
all state (warehouse, download cache, outputs, PREFECT_HOME) in ignored folders inside it.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

WAREHOUSE_ENV = "REELGRAPH_WAREHOUSE"
OUTPUTS_ENV = "REELGRAPH_OUTPUTS"
CACHE_ENV = "REELGRAPH_CACHE"
SOURCE_ENV = "REELGRAPH_SOURCE"

DEFAULT_WAREHOUSE = Path("data") / "reelgraph.duckdb"
DEFAULT_CACHE = Path("data") / "cache"
DEFAULT_OUTPUTS = Path("outputs")
DEFAULT_PREFECT_HOME = Path(".prefect")
PREFECT_SERVER_LOGGER = "prefect"  # prefect.server.api.server's subprocess_server_logger


def _pick(explicit: str | os.PathLike[str] | None, env: str, default: Path) -> Path:
    if explicit:
        return Path(explicit)
    if os.environ.get(env):
        return Path(os.environ[env])
    return default


def warehouse_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    return _pick(explicit, WAREHOUSE_ENV, DEFAULT_WAREHOUSE)


def cache_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    return _pick(explicit, CACHE_ENV, DEFAULT_CACHE)


def outputs_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    return _pick(explicit, OUTPUTS_ENV, DEFAULT_OUTPUTS)


def configure_prefect_environment() -> None:
    """Keep Prefect's state inside the project and its telemetry off.

    Must run before `prefect` is imported: Prefect reads these once at import.
    """
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_HOME", str(DEFAULT_PREFECT_HOME.resolve()))
    # The first start of the ephemeral API server creates and migrates its SQLite database; on
    # two busy cores that took longer than Prefect's default 20 s and the run failed to start.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
    # The local API server answered 500 to an artifact write on busy cores once, failing the
    # whole flow: the client retries those as it does 429, 502 and 503 (as prefect.toml says).
    os.environ.setdefault("PREFECT_CLIENT_RETRY_EXTRA_CODES", "500")
    Path(os.environ["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)


class _FirstLineOnly(logging.Filter):
    """Keeps the first line of Prefect's temporary-server notice (the address) and drops the
    hint under it, which every command would otherwise print."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and record.msg.startswith("Starting temporary server"):
            record.msg = record.msg.split("\n", 1)[0]
        return True


def quiet_prefect_notices() -> None:
    """Call after Prefect is imported."""
    from reelgraph.core.quiet_refusals import hide_refusal_tracebacks

    logging.getLogger(PREFECT_SERVER_LOGGER).addFilter(_FirstLineOnly())
    hide_refusal_tracebacks()


def source(explicit: str | os.PathLike[str] | None = None) -> str | None:
    """A local copy of the dataset (folder or zip), for machines without internet."""
    if explicit:
        return str(explicit)
    return os.environ.get(SOURCE_ENV) or None


def checkpoints_dir(outputs: str | os.PathLike[str] | None = None) -> Path:
    """Training checkpoints, keyed by split and configuration (so a failed run resumes)."""
    return outputs_dir(outputs) / "checkpoints"


# Baselines the evaluation compares GraphSAGE with, by default all of them (here, not in
# reelgraph.evaluate.comparison, so the command line can validate names without importing torch).
DEFAULT_BASELINES = (
    "global_mean",
    "bias",
    "popularity",
    "mf",
    "ease",
    "rp3beta",
    "gf_cf",
    "lightgcn",
    "bpr_mf",
    "ials",
)

# The models `reelgraph tune` searches, each with the same budget: GraphSAGE and the baselines
# that rank and have settings.
TUNABLE = ("graphsage", "ease", "rp3beta", "gf_cf", "lightgcn", "bpr_mf", "ials")
