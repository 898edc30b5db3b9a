"""The two torch building blocks of the encoders: PyG's SAGEConv over a CSR product, and a
memory-light dot product of row pairs.

Imports only torch / torch_geometric.
"""

from __future__ import annotations

import warnings

import torch

from reelgraph.graph.sparse import SparsePair

with warnings.catch_warnings():
    # torch_geometric on a newer torch warns about an API it still uses; nothing we can act on.
    warnings.simplefilter("ignore", DeprecationWarning)
    from torch_geometric.nn import SAGEConv


class SAGEConvCSR(SAGEConv):
    """PyG's SAGEConv (its parameters, initialisation and update rule:
    out = lin_l(aggregate(x_src)) + lin_r(x_dst)), aggregating with a SparsePair whose scales
    already encode the normalisation, so forward and backward are each one CSR product."""

    def forward(self, x: tuple[torch.Tensor, torch.Tensor], adj: SparsePair) -> torch.Tensor:  # type: ignore[override]
        x_src, x_dst = x
        return self.combine(adj @ x_src, x_dst)

    def combine(self, aggregated: torch.Tensor, x_dst: torch.Tensor | None) -> torch.Tensor:
        """The update rule from an aggregate computed elsewhere (see SAGEEncoder)."""
        out = self.lin_l(aggregated)
        if self.root_weight:
            out = out + self.lin_r(x_dst)
        return out


class _PairDot(torch.autograd.Function):
    """<a[i], b[j]> for every pair of index vectors (i, j), in chunks, without keeping the
    gathered (pairs x d) rows for the backward pass: it gathers them again. On 25M ratings an
    epoch scores 5M supervision edges; autograd's plain gather-multiply-sum kept about 2 GB of
    such rows alive until the backward pass."""

    # On CPU, 16k pairs x 32 dims is 2 MB per temporary: it stays in cache and its memory is
    # reused; 1M-pair chunks (128 MB temporaries) made the 25m decoder 3-4x slower. On CUDA
    # large chunks keep the number of kernel launches down.
    CHUNK = 1 << 14
    CUDA_CHUNK = 1 << 20

    @staticmethod
    def chunk(device: torch.device) -> int:
        return _PairDot.CUDA_CHUNK if device.type == "cuda" else _PairDot.CHUNK

    @staticmethod
    def forward(
        ctx, a: torch.Tensor, b: torch.Tensor, i: torch.Tensor, j: torch.Tensor
    ) -> torch.Tensor:  # type: ignore[override]  # noqa: ANN001
        out = torch.empty(i.numel(), dtype=torch.result_type(a, b), device=a.device)
        chunk = _PairDot.chunk(a.device)
        for s in range(0, i.numel(), chunk):
            e = s + chunk
            out[s:e] = (a.index_select(0, i[s:e]) * b.index_select(0, j[s:e])).sum(-1)
        ctx.save_for_backward(a, b, i, j)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]  # noqa: ANN001, ANN205
        a, b, i, j = ctx.saved_tensors
        ga = torch.zeros_like(a) if ctx.needs_input_grad[0] else None
        gb = torch.zeros_like(b) if ctx.needs_input_grad[1] else None
        chunk = _PairDot.chunk(a.device)
        for s in range(0, i.numel(), chunk):
            e = s + chunk
            g = grad[s:e, None]
            if ga is not None:
                ga.index_add_(0, i[s:e], (g * b.index_select(0, j[s:e])).to(ga.dtype))
            if gb is not None:
                gb.index_add_(0, j[s:e], (g * a.index_select(0, i[s:e])).to(gb.dtype))
        return ga, gb, None, None


def pair_dot(a: torch.Tensor, b: torch.Tensor, i: torch.Tensor, j: torch.Tensor) -> torch.Tensor:
    """(a[i] * b[j]).sum(-1), memory-light (see _PairDot)."""
    return _PairDot.apply(a, b, i, j)
