"""The decoder: from published vectors to what a user sees. One definition, two forms.

    ranking score     rank(u, m)   = <y_u, y_m> + c_m                              (the list)
    predicted rating  rating(u, m) = global_mean + b_u + b_m + <z_u, z_m>, clamped  (stars)
    explanation       the user's highly rated movie nearest the pick (cosine of ranking vectors)

Every function takes numpy arrays or torch tensors (the operators used, `@`, `+`, `.clip`,
`.argmax`, exist on both with the same meaning), so the model (torch, GPU), publishing, the
read API, the explorer, refresh and cold start all decode with this code. tests/test_decoder.py
checks they agree, user by user.

Imports only numpy (torch is used only when handed torch tensors).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from reelgraph.core.conventions import RATING_MAX, RATING_MIN

Array = Any  # numpy.ndarray or torch.Tensor


def ranking_scores(y_users: Array, y_movies: Array, c_movies: Array, out: Array = None) -> Array:
    """(users, movies) ranking scores; y_users may be one vector (d,) or a batch (b, d).
    `out` (torch): a reused buffer, written by one fused product."""
    if out is not None:
        return _addmm(c_movies[None, :], y_users, y_movies, out)
    return y_users @ y_movies.T + c_movies


def rating_scores(
    z_users: Array,
    b_users: Array,
    z_movies: Array,
    b_movies: Array,
    global_mean: float,
    out: Array = None,
) -> Array:
    """(users, movies) predicted ratings in stars, before the clamp (lowest-first order of the
    least-relevant list is the same either way); one vector or a batch of users, as above."""
    if out is not None:
        s = _addmm(b_movies[None, :] + global_mean, z_users, z_movies, out)
        s += b_users[:, None]
        return s
    bias = b_users if np.ndim(b_users) == 0 else b_users[:, None]
    return z_users @ z_movies.T + (b_movies + global_mean) + bias


def clamp_rating(ratings: Array, low: float = RATING_MIN, high: float = RATING_MAX) -> Array:
    """Stars on the rating scale: a prediction outside it is its nearest end."""
    return ratings.clip(low, high)


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows at unit length (a zero row stays zero): cosine similarity is then a dot product."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


def explanations(picks: np.ndarray, liked: np.ndarray, unit: np.ndarray) -> np.ndarray:
    """For each picked movie position, the position among `liked` (movies the user rated at
    least RELEVANT_RATING) nearest to it by cosine of unit ranking vectors `unit`; ties go to
    the first liked movie. -1 for every pick when the user liked nothing."""
    picks = np.asarray(picks)
    if liked.size == 0:
        return np.full(picks.shape, -1, dtype=np.int64)
    return liked[np.argmax(unit[picks] @ unit[liked].T, axis=-1)]


def _addmm(bias: Array, a: Array, b: Array, out: Array) -> Array:
    if isinstance(out, np.ndarray):
        np.matmul(a, b.T, out=out)
        out += bias
        return out
    import torch  # handed torch tensors: torch is loaded already

    return torch.addmm(bias, a, b.T, out=out)
