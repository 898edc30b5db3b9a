"""Evaluation metrics (numpy only, so they run wherever the model runs).

Rating metrics are in stars. `mse_scaled` is the reference report's figure: MSE after scaling
ratings min-max from [0.5, 5] to [0, 1], i.e. MSE in stars / 4.5**2 (0.0406 is about 0.9 stars
RMSE).
"""

from __future__ import annotations

import numpy as np

from reelgraph.conventions import RATING_MAX, RATING_MIN


def rating_metrics(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    pred = np.asarray(pred, dtype=np.float64)
    truth = np.asarray(truth, dtype=np.float64)
    if pred.shape != truth.shape or pred.size == 0:
        raise ValueError(
            f"rating_metrics needs two equal, non-empty arrays; got {pred.shape} and {truth.shape}"
        )
    err = pred - truth
    mse = float(np.mean(err**2))
    return {
        "rmse": float(np.sqrt(mse)),
        "mae": float(np.mean(np.abs(err))),
        "mse_scaled": mse / (RATING_MAX - RATING_MIN) ** 2,
    }


def fmt_metric(value: float | None) -> str:
    """A figure in a log line: four decimals, or '-' when it was not computed."""
    return "-" if value is None else f"{value:.4f}"
