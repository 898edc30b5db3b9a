"""`reelgraph report`: a run's comparison table and its provenance as Markdown, from the
warehouse alone, so every results table in the docs is one command away from being written
again (docs/results.md names the command beside each table)."""

from __future__ import annotations

import json
import math


def columns(k: int = 20) -> tuple[tuple[str, str, int | None], ...]:
    """(header, metric, K) of the docs' result tables, at the run's list length K (`--k`)."""
    return (
        ("RMSE", "rmse", None),
        (f"NDCG@{k}", "ndcg", k),
        (f"Recall@{k}", "recall", k),
        ("Precision@10", "precision", 10),
        (f"coverage@{k}", "coverage", k),
        (f"personalization@{k}", "personalization", k),
        ("mse_scaled", "mse_scaled", None),
        ("ndcg_ref", "ndcg_ref", None),
    )


LOWER_IS_BETTER = {"rmse", "mae", "mse_scaled"}
# Best values are marked only where a higher (or lower) figure is better for the person reading
# the list; coverage and personalization describe the lists, they are not a score to win.
MARKED = {"rmse", "ndcg", "recall", "precision"}


def metric_table(metrics: list[dict], split: str = "test") -> dict[str, dict[tuple, float]]:
    """model -> {(metric, k): value} of one split."""
    table: dict[str, dict[tuple, float]] = {}
    for row in metrics:
        if row["split"] == split:
            table.setdefault(row["model"], {})[(row["metric"], row["k"])] = row["value"]
    return table


def markdown(run: dict, metrics: list[dict], split: str = "test") -> str:
    """The provenance paragraph and the comparison table of one run (an ops.runs row and its
    marts.metrics rows)."""
    table = metric_table(metrics, split)
    cols = columns(int(_json(run.get("spec")).get("k") or 20))
    order = cols[1][1:]  # after GraphSAGE, models by test NDCG@K, best first
    models = sorted(table, key=lambda m: (m != "graphsage", -table[m].get(order, -math.inf)))
    best = _best(table, cols)
    head = "| model | " + " | ".join(h for h, _, _ in cols) + " |"
    lines = [provenance(run, split), "", head, "|---" * (len(cols) + 1) + "|"]
    for model in models:
        cells = []
        for _, metric, k in cols:
            value = table[model].get((metric, k))
            cell = "—" if value is None else f"{value:.4f}"
            cells.append(
                f"**{cell}**" if value is not None and best.get((metric, k)) == value else cell
            )
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _best(table: dict[str, dict[tuple, float]], cols: tuple) -> dict[tuple, float]:
    best: dict[tuple, float] = {}
    for _, metric, k in cols:
        values = [v[(metric, k)] for v in table.values() if (metric, k) in v]
        if metric in MARKED and values:
            best[(metric, k)] = min(values) if metric in LOWER_IS_BETTER else max(values)
    return best


def provenance(run: dict, split: str = "test") -> str:
    """One paragraph: which data, split, seed, code, machine and time made the table."""
    spec = _json(run.get("spec"))
    timings = _json(run.get("timings"))
    # The metrics are of the evaluated split; a refit run's own split_id is every rating's.
    evaluated = _json(run.get("params")).get("eval_split_id") or run["split_id"]
    protocol = spec.get("split", "?")
    fractions = f"{spec.get('val_fraction', '?')} / {spec.get('test_fraction', '?')}"
    wall = ""
    if run.get("started_at") and run.get("finished_at"):
        seconds = (run["finished_at"] - run["started_at"]).total_seconds()
        wall = f", {seconds / 60:.1f} min from start to publish"
    stages = ", ".join(f"{name} {s:.0f} s" for name, s in timings.items())
    return (
        f"`reelgraph report --run {run['run_id']}`: run `{run['run_id']}` of "
        f"`{run['dataset']}`, {protocol} split (validation / test {fractions}, `{evaluated}`), "
        f"seed {run['seed']}, code `{run['code_version']}`, device {run['device']}{wall} "
        f"({stages}). {split.capitalize()} part; every model through the same code; **bold**: "
        "the best of a column where higher (RMSE: lower) is better."
    )


def _json(value: object) -> dict:
    if value is None:
        return {}
    return value if isinstance(value, dict) else json.loads(value)
