"""The adjacency one forward pass of an encoder uses, and how an epoch builds it.

Imports only torch.
"""

from __future__ import annotations

import dataclasses

import torch

from reelgraph.graph.sparse import BipartiteAdjacency, EdgeWeights, Relations

KEPT_INPUTS = 2  # sets of input features a graph keeps aggregates of: the two encoders'


@dataclasses.dataclass
class MessageGraph:
    """The adjacency one forward pass uses (see reelgraph.graph.sparse.Relations).

    reuse_inputs: keep the first layer's aggregates of the input features (`input_aggregates`)
    for the next pass with the same features; set on a graph that is encoded again and again,
    such as the training graph of an epoch's steps or the full graph of every validation."""

    relations: Relations
    reuse_inputs: bool = False
    _kept: dict = dataclasses.field(default_factory=dict, repr=False)

    def aggregate(
        self, src_user: torch.Tensor, src_movie: torch.Tensor, norm: str, n_relations: int
    ) -> list[torch.Tensor]:
        """[to movies, to users] per relation: one product each."""
        out = []
        for r in range(n_relations):
            to_m, to_u = self.relations.pairs(r, norm)
            out += [to_m @ src_user, to_u @ src_movie]
        return out

    def to_users(self, src_movie: torch.Tensor, norm: str, relation: int) -> torch.Tensor:
        return self.relations.pairs(relation, norm)[1] @ src_movie

    def input_aggregates(
        self, x_user: torch.Tensor, x_movie: torch.Tensor, norm: str, n_relations: int
    ) -> list[torch.Tensor]:
        """`aggregate` of the input features with a column of ones appended, without gradient:
        the features are constants, so a layer that aggregates them instead of their projection
        needs no backward product (see SAGEEncoder._first_layer_aggregates). Every relation of
        the graph is aggregated once per norm and inputs, and shared by the encoders that read
        them."""
        # Per norm, one entry per set of inputs (the rating encoder's movie inputs carry more
        # columns than the ranking encoder's: reelgraph.model.rating_basis).
        entries = self._kept.setdefault(norm, [])
        kept = next((e for e in entries if e[0] is x_user and e[1] is x_movie), None)
        if kept is None:
            with torch.no_grad():
                ones_u = x_user.new_ones(x_user.shape[0], 1)
                ones_m = x_movie.new_ones(x_movie.shape[0], 1)
                agg = self.aggregate(
                    torch.cat([x_user, ones_u], 1),
                    torch.cat([x_movie, ones_m], 1),
                    norm,
                    len(self.relations),
                )
            kept = (x_user, x_movie, agg)
            if self.reuse_inputs:
                entries[:] = [*entries[-(KEPT_INPUTS - 1) :], kept]
        return kept[2][: 2 * n_relations]


def message_graph(
    adj: BipartiteAdjacency,
    keep: torch.Tensor | None,
    deviation: torch.Tensor | EdgeWeights | None,
    reuse_inputs: bool = False,
) -> MessageGraph:
    """Adjacency for one pass: `keep` (canonical edge order, see BipartiteAdjacency) selects the
    train edges that pass messages (None = all); `deviation` is each edge's rating minus the
    global mean, for the `rates_dev` relation (as EdgeWeights when reused every epoch).
    reuse_inputs: see MessageGraph."""
    scales = (None,) if deviation is None else (None, deviation)
    return MessageGraph(adj.message_relations(keep, scales), reuse_inputs=reuse_inputs)
