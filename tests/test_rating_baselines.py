"""The rating baselines: MF's hand-written gradients are its loss's, and it learns."""

from __future__ import annotations

import torch

from reelgraph.evaluate.rating_baselines import MF, Bias, MFConfig
from reelgraph.graph.ratings import RatingGraph


def test_mf_gradients_are_autograds(tiny_graph: RatingGraph) -> None:
    mf = MF(tiny_graph, MFConfig(epochs=1))
    with torch.no_grad():  # non-zero biases, so their terms are checked too
        mf.bu.normal_()
        mf.bi.normal_()
    u, m, r = tiny_graph.part("train")
    # Users and movies repeat within the batch: their rows' gradients must add up.
    idx = torch.cat([torch.arange(min(50, u.numel())), torch.arange(10)])
    params = [mf.P, mf.Q, mf.bu, mf.bi]
    mf._set_gradients(u[idx], m[idx], r[idx], reg=0.3)
    written = [p.grad.clone() for p in params]
    expected = torch.autograd.grad(mf.loss(u[idx], m[idx], r[idx], reg=0.3), params)
    for w, e in zip(written, expected, strict=True):
        assert torch.count_nonzero(e) > 0
        torch.testing.assert_close(w, e, rtol=1e-5, atol=1e-7)


def test_mf_fits_validation_better_than_the_biases(tiny_graph: RatingGraph) -> None:
    vu, vm, vr = tiny_graph.part("val")
    mf = MF(tiny_graph)
    bias_rmse = float(torch.sqrt(torch.mean((Bias(tiny_graph).predict(vu, vm) - vr) ** 2)))
    first_epoch = mf.history[0]["val_rmse"]
    assert mf.val_rmse < first_epoch
    assert mf.val_rmse == min(h["val_rmse"] for h in mf.history)
    assert mf.val_rmse < bias_rmse * 1.02, (mf.val_rmse, bias_rmse)
