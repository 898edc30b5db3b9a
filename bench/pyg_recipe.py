"""The usual PyG recipe for rating prediction, written from its description, for comparison:
a homogeneous 2-layer GraphSAGE turned heterogeneous with `to_hetero`, message passing over
`edge_index` (gather + scatter of one message per edge), and an MLP edge decoder on the
concatenated user and movie embeddings. Full batch, MSE on all train edges."""

from __future__ import annotations

import time
import warnings

import torch
from torch import nn

warnings.filterwarnings("ignore", category=DeprecationWarning)
from torch_geometric.nn import SAGEConv, to_hetero  # noqa: E402

from reelgraph.graph.ratings import RatingGraph  # noqa: E402


class GNN(nn.Module):
    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.conv1 = SAGEConv((-1, -1), hidden)
        self.conv2 = SAGEConv((-1, -1), hidden)

    def forward(self, x, edge_index):  # noqa: ANN001, ANN201
        return self.conv2(self.conv1(x, edge_index).relu(), edge_index)


class EdgeDecoder(nn.Module):
    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.lin1 = nn.Linear(2 * hidden, hidden)
        self.lin2 = nn.Linear(hidden, 1)

    def forward(self, z_user, z_movie, edges):  # noqa: ANN001, ANN201
        z = torch.cat([z_user[edges[0]], z_movie[edges[1]]], dim=-1)
        return self.lin2(self.lin1(z).relu()).view(-1)


def time_epochs(graph_path: str, epochs: int = 2, hidden: int = 64) -> dict:
    g = RatingGraph.load(graph_path)
    data = g.to_hetero_data()
    encoder = to_hetero(GNN(hidden), data.metadata(), aggr="sum")
    decoder = EdgeDecoder(hidden)
    with torch.no_grad():  # lazy (-1) in-channels: one forward before the optimiser
        encoder(data.x_dict, data.edge_index_dict)
    opt = torch.optim.Adam(list(encoder.parameters()) + list(decoder.parameters()), lr=0.01)
    edges = data["user", "rates", "movie"].edge_index
    label = data["user", "rates", "movie"].edge_label
    times = []
    for _ in range(epochs):
        t = time.perf_counter()
        z = encoder(data.x_dict, data.edge_index_dict)
        loss = torch.mean((decoder(z["user"], z["movie"], edges) - label) ** 2)
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t)
    return {
        "s_per_epoch": round(sum(times) / len(times), 2),
        "epochs": epochs,
        "loss": round(float(loss), 4),
    }
