"""Evaluate GraphSAGE and the baselines on one split and lay the results out for people."""

from __future__ import annotations

import logging
import time

from reelgraph.core.conventions import RELEVANT_RATING
from reelgraph.core.settings import DEFAULT_BASELINES
from reelgraph.evaluate import baselines
from reelgraph.evaluate.protocol import EvalResult, PartialEval, evaluate_users
from reelgraph.graph.ratings import RatingGraph
from reelgraph.model.scoring import Scorer

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


# Below this many users with a relevant test rating, ranking metrics are noise: a run says so.
MIN_EVALUABLE_USERS = 100


def thin_data_warning(users_evaluated: int, users_skipped: int) -> str | None:
    """The one line a run on data too thin to evaluate gets (None when it is not)."""
    if users_evaluated >= MIN_EVALUABLE_USERS:
        return None
    total = users_evaluated + users_skipped
    return (
        f"warning: only {users_evaluated} of {total} users have a relevant test rating (fewer "
        f"than {MIN_EVALUABLE_USERS}): the ranking metrics rest on too few users to tell the "
        "models apart"
    )


def default_baselines(graph: RatingGraph) -> tuple[tuple[str, ...], dict[str, str]]:
    """The baselines a run compares with when none are named: all of them, but those too slow
    for this many train ratings on this machine's kind (each says why, in the log and the
    model card)."""
    n = graph.part("train")[0].numel()
    skipped = {
        name: f"skipped: more than {limit:,} train ratings (too slow on CPU; name it to run it)"
        for name in DEFAULT_BASELINES
        if (limit := baselines.MAX_TRAIN_RATINGS.get(name)) is not None and n > limit
    }
    return tuple(b for b in DEFAULT_BASELINES if b not in skipped), skipped


def models_to_compare(
    graph: RatingGraph, models: tuple[str, ...] | None
) -> tuple[tuple[str, ...], dict[str, str]]:
    """GraphSAGE first, then the named baselines (None: default_baselines), and those skipped."""
    skipped: dict[str, str] = {}
    if models is None:
        models, skipped = default_baselines(graph)
        for name, why in skipped.items():
            log.info("%s %s", name, why)
    return ("graphsage", *models), skipped


def evaluate_model(
    name: str,
    graph: RatingGraph,
    model_path: str,
    part: str = "test",
    k_values: tuple[int, ...] = (10, 20),
    threshold: float = RELEVANT_RATING,
    params: dict | None = None,
    device: str = "auto",
    seed: int = 0,
    users: range | None = None,
    scorer: Scorer | None = None,
) -> PartialEval:
    """One model's sums on one split, over a shard of users (None: every user): "graphsage"
    (the model at model_path on `device`, or `scorer`, that model already encoded) or a
    baseline fitted with `params` (its defaults for the rest) and `seed` (evaluate.merge turns
    the shards' sums into metrics)."""
    if name == "graphsage":
        scorer = scorer or Scorer.load(model_path, graph, device)
        adapter = baselines.GraphSAGEAdapter(scorer)
        return evaluate_users(
            adapter, graph, part, k_values, threshold, users, device=scorer.device
        )
    t = time.perf_counter()
    rec = baselines.build_baseline(name, graph, params, seed)
    log.info("fitted %s in %.1f s", name, time.perf_counter() - t)
    return evaluate_users(rec, graph, part, k_values, threshold, users)


def markdown_table(
    results: list[EvalResult],
    columns: tuple[tuple[str, int | None], ...] = HEADLINE,
    skipped: dict[str, str] | None = None,
) -> str:
    head = "| model | " + " | ".join(f"{m}@{k}" if k else m for m, k in columns) + " |"
    sep = "|---" * (len(columns) + 1) + "|"
    lines = [head, sep]
    for r in results:
        cells = [f"{r.metrics[c]:.4f}" if c in r.metrics else "—" for c in columns]
        lines.append(f"| {r.model} | " + " | ".join(cells) + " |")
    for name, why in (skipped or {}).items():
        lines.append(f"| {name} | {why} |" + " |" * (len(columns) - 1))
    return "\n".join(lines)


def table_rows(results: list[EvalResult]) -> list[dict]:
    return [
        {
            "model": r.model,
            **{(f"{m}@{k}" if k else m): round(v, 5) for (m, k), v in r.metrics.items()},
        }
        for r in results
    ]
