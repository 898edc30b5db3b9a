"""Evaluation metrics (numpy only, so they run wherever the model runs).

Rating metrics are in stars. `mse_scaled` is the reference report's figure: MSE after scaling
ratings min-max from [0.5, 5] to [0, 1], i.e. MSE in stars / 4.5**2 (0.0406 is about 0.9 stars
RMSE).
"""

from __future__ import annotations

import numpy as np

from reelgraph.core.conventions import RATING_MAX, RATING_MIN


def rating_sums(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """The sums the rating metrics are made of, so shards of the pairs can be added up."""
    pred = np.asarray(pred, dtype=np.float64)
    truth = np.asarray(truth, dtype=np.float64)
    if pred.shape != truth.shape:
        raise ValueError(
            f"rating metrics need two equal arrays; got {pred.shape} and {truth.shape}"
        )
    err = pred - truth
    return {
        "pairs": float(err.size),
        "squared": float(np.sum(err**2)),
        "absolute": float(np.sum(np.abs(err))),
    }


def rating_metrics_of_sums(sums: dict[str, float]) -> dict[str, float]:
    if not sums["pairs"]:
        raise ValueError("rating metrics need at least one (prediction, rating) pair")
    mse = sums["squared"] / sums["pairs"]
    return {
        "rmse": float(np.sqrt(mse)),
        "mae": sums["absolute"] / sums["pairs"],
        "mse_scaled": mse / (RATING_MAX - RATING_MIN) ** 2,
    }


def rating_metrics(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    return rating_metrics_of_sums(rating_sums(pred, truth))


def fmt_metric(value: float | None) -> str:
    """A figure in a log line: four decimals, or '-' when it was not computed."""
    return "-" if value is None else f"{value:.4f}"
