"""Evaluate GraphSAGE and the baselines on one split and lay the results out for people."""

from __future__ import annotations

import logging
import time

from reelgraph import baselines
from reelgraph.evaluate import EvalResult, evaluate
from reelgraph.graph import RatingGraph
from reelgraph.metrics import RELEVANT_RATING
from reelgraph.scoring import Scorer
from reelgraph.settings import DEFAULT_BASELINES
from reelgraph.train import load_model, select_device

log = logging.getLogger(__name__)


HEADLINE = (
    ("rmse", None),
    ("mae", None),
    ("mse_scaled", None),
    ("ndcg_ref", None),
    ("precision", 10),
    ("recall", 20),
    ("ndcg", 20),
    ("map", 20),
    ("hit_rate", 20),
    ("coverage", 20),
    ("novelty", 20),
    ("personalization", 20),
    ("popularity_bias", 20),
)


def compare(
    graph: RatingGraph,
    model_path: str,
    part: str = "test",
    k_values: tuple[int, ...] = (10, 20),
    threshold: float = RELEVANT_RATING,
    models: tuple[str, ...] = DEFAULT_BASELINES,
    baseline_params: dict[str, dict] | None = None,
    device: str = "auto",
) -> list[EvalResult]:
    """GraphSAGE (the model at model_path) and each baseline, fitted with its settings from
    baseline_params (name -> settings; the rest at their defaults), on one split."""
    dev = select_device(device)
    model, _ = load_model(model_path, dev)
    results = [
        evaluate(
            baselines.GraphSAGEAdapter(Scorer.from_model(model, graph, dev)),
            graph,
            part,
            k_values,
            threshold,
            device=dev,
        )
    ]
    for name in models:
        t = time.perf_counter()
        rec = baselines.build_baseline(name, graph, (baseline_params or {}).get(name))
        log.info("fitted %s in %.1f s", name, time.perf_counter() - t)
        results.append(evaluate(rec, graph, part, k_values, threshold))
    return results


def markdown_table(
    results: list[EvalResult], columns: tuple[tuple[str, int | None], ...] = HEADLINE
) -> str:
    head = "| model | " + " | ".join(f"{m}@{k}" if k else m for m, k in columns) + " |"
    sep = "|---" * (len(columns) + 1) + "|"
    lines = [head, sep]
    for r in results:
        cells = [f"{r.metrics[c]:.4f}" if c in r.metrics else "—" for c in columns]
        lines.append(f"| {r.model} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def table_rows(results: list[EvalResult]) -> list[dict]:
    return [
        {
            "model": r.model,
            **{(f"{m}@{k}" if k else m): round(v, 5) for (m, k), v in r.metrics.items()},
        }
        for r in results
    ]
