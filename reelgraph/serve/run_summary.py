"""The pipeline run's own summary for its Prefect page, in words people read (no plotting: that
is reelgraph.serve.figures)."""

from __future__ import annotations

from pathlib import Path


def lists_source(refit: bool) -> str:
    """Which model the published lists come from, as the summaries say it."""
    return "GraphSAGE refit on every rating" if refit else "the evaluated GraphSAGE (no refit)"


def budget_warning(train: dict) -> str | None:
    """The one line a training cut by its wall-clock budget gets (None when its own stopping
    rule ended it): its outputs are those of the epochs this machine reached in time."""
    if not train.get("stopped_by_budget"):
        return None
    minutes = train["train_config"]["max_minutes"]
    return (
        f"warning: the {minutes:g}-minute training budget stopped GraphSAGE after epoch "
        f"{train['epochs_run']}, before its own stopping rule: its figures depend on this "
        "machine's speed (raise --max-minutes to make them a function of data and settings)"
    )


def pipeline_summary(
    run_id: str,
    dataset: str,
    lists_from: str,
    timings: dict[str, float],
    comparison_md: str,
    figure_paths: list[str],
    explorer: str = "http://127.0.0.1:8765",
    warnings: tuple[str, ...] = (),
) -> str:
    """The pipeline run's own page in the Prefect UI: what served the lists, each stage's time,
    the test metrics, and every figure as an http link the explorer serves (browsers do not
    open file:// links from an http page) beside its file."""
    stages = "\n".join(f"| {stage} | {seconds:.1f} s |" for stage, seconds in timings.items())
    figures = "\n".join(
        f"- [{Path(f).name}]({explorer}/api/runs/{run_id}/figures/{Path(f).name}) (`{f}`)"
        for f in figure_paths
    )
    warned = "".join(f"> **{w}**\n\n" for w in warnings)
    return (
        f"# reelgraph pipeline run {run_id}\n\n{warned}Dataset `{dataset}`; published lists: "
        f"{lists_from}. Each stage's own summary is on its subflow's page.\n\n"
        f"## Stages\n\n| stage | time |\n|---|---|\n{stages}\n\n"
        f"## Test metrics\n\n{comparison_md}\n\n## Figures\n\nServed by `reelgraph explore` "
        f"(start it to open these links):\n\n{figures}\n"
    )
