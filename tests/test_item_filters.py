"""The closed-form item-item baselines against cases worked out by hand, on two users and three
movies: user 0 rated movies 0 and 1, user 1 rated movies 1 and 2 (so the degrees are users
[2, 2], movies [1, 2, 1])."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from reelgraph.evaluate.item_filters import (
    EASE,
    GFCF,
    EASEConfig,
    GFCFConfig,
    RP3beta,
    RP3betaConfig,
    strongest,
)
from reelgraph.graph.ratings import RatingGraph

EVERY_MOVIE = {"min_ratings": 1, "max_items": 10}


def two_users() -> RatingGraph:
    train = torch.tensor([[0, 0, 1, 1], [0, 1, 1, 2], [4.0, 5.0, 3.0, 4.5]])
    return RatingGraph(
        user_ids=torch.tensor([1, 2]),
        movie_ids=torch.tensor([10, 20, 30]),
        x_user=torch.zeros(2, 1),
        x_movie=torch.zeros(3, 1),
        edges={"train": train, "val": torch.zeros(3, 0), "test": torch.zeros(3, 0)},
        user_features=["f"],
        movie_features=["f"],
    )


def scores(model) -> np.ndarray:  # noqa: ANN001
    return model.score(torch.tensor([0, 1])).numpy()


def test_rp3beta_is_the_penalised_three_step_walk() -> None:
    # alpha 1, beta 0: W = P_iu P_ui with its diagonal zeroed, P_ui = X / 2 and
    # P_iu = X' / [1, 2, 1]: W = [[0, .5, 0], [.25, 0, .25], [0, .5, 0]], so user 0 (movies 0
    # and 1) scores [.25, .5, .25] and user 1 [.25, .5, .25] as well, by symmetry.
    plain = RP3beta(two_users(), RP3betaConfig(alpha=1.0, beta=0.0, neighbours=0, **EVERY_MOVIE))
    np.testing.assert_allclose(scores(plain), [[0.25, 0.5, 0.25], [0.25, 0.5, 0.25]], atol=1e-6)
    # beta 1 divides each arrival by its movie's degree: column 1 halves.
    penalised = RP3beta(two_users(), RP3betaConfig(beta=1.0, neighbours=0, **EVERY_MOVIE))
    np.testing.assert_allclose(scores(penalised), [[0.25, 0.25, 0.25]] * 2, atol=1e-6)
    # alpha 2 squares every transition probability: W[0, 1] = 1 * .25, W[1, 0] = .25 * .25,
    # W[1, 2] = .25 * .25, W[2, 1] = .25, so user 0 scores [.0625, .25, .0625].
    sharp = RP3beta(two_users(), RP3betaConfig(alpha=2.0, beta=0.0, neighbours=0, **EVERY_MOVIE))
    np.testing.assert_allclose(scores(sharp)[0], [0.0625, 0.25, 0.0625], atol=1e-6)


def test_rp3beta_keeps_each_movies_strongest_arrivals() -> None:
    W = np.array([[0.0, 3.0, 1.0, 2.0], [5.0, 0.0, 4.0, 6.0]])
    np.testing.assert_array_equal(strongest(W.copy(), 2), [[0, 3, 0, 2], [5, 0, 0, 6]])
    np.testing.assert_array_equal(strongest(W.copy(), 0), W)


def test_gf_cf_is_the_linear_plus_ideal_low_pass_filter() -> None:
    # R = D_u^-1/2 X D_i^-1/2 = [[1/r2, 1/2, 0], [0, 1/2, 1/r2]], so R'R has 1/2 on its
    # diagonal and 1/(2 r2) beside it: user 0 scores [1/2 + 1/(2 r2)] * 2 + [1/(2 r2)].
    r2 = math.sqrt(2.0)
    linear = [0.5 + 1 / (2 * r2), 0.5 + 1 / (2 * r2), 1 / (2 * r2)]
    only_linear = GFCF(two_users(), GFCFConfig(alpha=0.0, **EVERY_MOVIE))
    np.testing.assert_allclose(scores(only_linear)[0], linear, atol=1e-6)
    # R's top right singular vector is v = [1/2, 1/r2, 1/2] (singular value 1); the ideal
    # filter D_i^-1/2 v v' D_i^1/2 gives user 0 (x D_i^-1/2 v) v_j / d_j = v_j / d_j with
    # d = [1, 1/r2, 1]: [1/2, 1, 1/2].
    both = GFCF(two_users(), GFCFConfig(alpha=1.0, k=1, **EVERY_MOVIE))
    np.testing.assert_allclose(scores(both)[0], np.add(linear, [0.5, 1.0, 0.5]), atol=1e-5)


@pytest.mark.parametrize("model", [EASE, RP3beta, GFCF])
def test_movies_left_out_of_the_item_matrix_rank_last(model) -> None:  # noqa: ANN001
    # min_ratings 2 keeps movie 1 alone (the only one rated twice).
    config = {EASE: EASEConfig, RP3beta: RP3betaConfig, GFCF: GFCFConfig}[model]
    fitted = model(two_users(), config(min_ratings=2, max_items=10))
    assert fitted.items.tolist() == [1]
    s = scores(fitted)
    assert (s[:, [0, 2]] == -1e9).all() and (s[:, 1] > -1e9).all()


def test_gf_cf_repeats_exactly() -> None:
    from reelgraph.synthetic.graph import make_graph

    g = make_graph("tiny", seed=1)
    a, b = (scores(GFCF(g, GFCFConfig(k=8))) for _ in range(2))
    np.testing.assert_array_equal(a, b)
