"""The rating output's weights averaged over its optimiser steps (TrainConfig.rating_ema,
reelgraph.train.averaging): validated, selected and served as the average."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from torch import nn

from reelgraph.evaluate.metrics import rating_metrics
from reelgraph.graph.ratings import RatingGraph
from reelgraph.model.recommender import GraphSAGERecommender
from reelgraph.model.saved import default_model_config, load_model
from reelgraph.model.scoring import Scorer
from reelgraph.serve.model_card import _average_text
from reelgraph.train.averaging import StepAverage
from reelgraph.train.checkpoints import CHECKPOINT
from reelgraph.train.config import TrainConfig
from reelgraph.train.fit import train

FAST = TrainConfig(epochs=3, lr=0.01, patience=100, log_every=100, rating_ema=0.9)


def _set(module: nn.Linear, value: float) -> None:
    with torch.no_grad():
        module.weight.fill_(value)
        module.bias.fill_(value)


def test_the_average_is_the_exponential_moving_one_and_swaps_back() -> None:
    layer = nn.Linear(2, 1)
    average = StepAverage(layer, 0.5)
    _set(layer, 1.0)
    with average.swapped_in():  # before the first update: the layer's own weights
        assert torch.equal(layer.weight, torch.ones(1, 2))
    average.update()  # the first update takes the weights as they are
    for value in (3.0, 7.0):
        _set(layer, value)
        average.update()
    by_hand = 0.5 * (0.5 * 1.0 + 0.5 * 3.0) + 0.5 * 7.0  # 4.5
    with average.swapped_in():
        assert torch.allclose(layer.weight, torch.full((1, 2), by_hand))
        assert torch.allclose(layer.bias, torch.full((1,), by_hand))
    assert torch.equal(layer.weight, torch.full((1, 2), 7.0))  # the live weights are back
    average.load_into_module()
    assert torch.allclose(layer.weight, torch.full((1, 2), by_hand))


def test_decay_zero_keeps_the_weights_as_they_are() -> None:
    layer = nn.Linear(2, 1)
    average = StepAverage(layer, 0.0)
    _set(layer, 2.0)
    average.update()
    _set(layer, 5.0)
    average.update()
    assert not average.started
    with average.swapped_in():
        assert torch.equal(layer.weight, torch.full((1, 2), 5.0))
    average.load_into_module()
    assert torch.equal(layer.weight, torch.full((1, 2), 5.0))


def _val_rmse(model: GraphSAGERecommender, graph: RatingGraph, rating_weights: dict) -> float:
    """The validation RMSE of the model with these rating weights, scored as serving scores."""
    model.rating.load_state_dict(rating_weights)
    users, movies, ratings = graph.part("val")
    scorer = Scorer.from_model(model, graph, torch.device("cpu"))
    return rating_metrics(scorer.predict(users.numpy(), movies.numpy()), ratings.numpy())["rmse"]


def _rating_part(weights: dict, prefix: str) -> dict:
    return {k[len(prefix) :]: v for k, v in weights.items() if k.startswith(prefix)}


def test_validation_reads_the_average_not_the_last_step(
    tiny_graph: RatingGraph, tmp_path: Path
) -> None:
    g = tiny_graph
    mc = default_model_config(g, rank_head=False)
    result = train(g, tmp_path, FAST, mc, resume=False)
    ckpt = torch.load(tmp_path / CHECKPOINT, weights_only=True)
    model = GraphSAGERecommender(mc)
    model.load_state_dict({**model.state_dict(), **ckpt["model"]})
    live = _rating_part(ckpt["model"], "rating.")
    averaged = _rating_part(ckpt["rating_average"], "module.")
    last = result.history[-1]["val_rmse"]
    assert _val_rmse(model, g, averaged) == pytest.approx(last, abs=1e-6)
    assert abs(_val_rmse(model, g, live) - last) > 1e-4


def test_a_refit_serves_the_average_and_no_average_serves_the_last_step(
    tiny_graph: RatingGraph, tmp_path: Path
) -> None:
    g = tiny_graph
    mc = default_model_config(g, rank_head=False)
    served = {}
    for decay in (0.9, 0.0):
        out = tmp_path / str(decay)
        cfg = dataclasses.replace(FAST, rating_ema=decay)
        train(g, out, cfg, mc, resume=False, fixed_epochs=(3, None))
        ckpt = torch.load(out / CHECKPOINT, weights_only=True)
        rating = load_model(out / "model.pt")[0].rating.state_dict()
        live = _rating_part(ckpt["model"], "rating.")
        averaged = _rating_part(ckpt["rating_average"], "module.")
        name = next(iter(rating))
        served[decay] = rating[name]
        if decay:
            torch.testing.assert_close(rating[name], averaged[name])
            assert not torch.allclose(rating[name], live[name])
        else:
            torch.testing.assert_close(rating[name], live[name])
    assert not torch.allclose(served[0.9], served[0.0])


@pytest.mark.parametrize("decay", [-0.1, 1.0, 1.5])
def test_a_decay_outside_zero_to_one_is_refused(decay: float) -> None:
    with pytest.raises(ValueError, match="rating_ema"):
        TrainConfig(rating_ema=decay)


def test_the_model_card_says_how_the_rating_weights_were_read() -> None:
    assert "moving average of its weights over its steps (decay 0.98" in _average_text(
        {"rating_ema": 0.98}
    )
    assert _average_text({"rating_ema": 0.0}) == _average_text({}) == ""  # a card from before
