"""Evaluate GraphSAGE and the baselines on one split and lay the results out for people."""

from __future__ import annotations

import logging
import time

from reelgraph import baselines
from reelgraph.evaluate import EvalResult, evaluate
from reelgraph.graph import RatingGraph
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
    threshold: float = 4.0,
    models: tuple[str, ...] = DEFAULT_BASELINES,
    device: str = "auto",
) -> list[EvalResult]:
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
        if name not in baselines.BASELINES:
            raise ValueError(f"unknown baseline {name!r}; known: {', '.join(baselines.BASELINES)}")
        t = time.perf_counter()
        rec = baselines.BASELINES[name](graph)
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
