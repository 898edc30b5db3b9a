"""SAGEEncoder: one 2-layer GraphSAGE encoder of both node types (see reelgraph.model.recommender for how
the recommender uses two of them): over the whole graph, over a sampled block of a batch's
nodes, and for users added after training (inductive).

Imports only torch / torch_geometric.
"""

from __future__ import annotations

import torch
from torch import nn

from reelgraph.graph.messages import MessageGraph
from reelgraph.graph.sampling import Block, sampled_mean
from reelgraph.graph.sparse import Relations
from reelgraph.model.config import ModelConfig
from reelgraph.model.layers import SAGEConvCSR
from reelgraph.model.tensors import padded_rows, seeded_apart


class SAGEEncoder(nn.Module):
    """A 2-layer GraphSAGE encoder of both node types, ending in a linear head per node type."""

    def __init__(
        self,
        cfg: ModelConfig,
        hidden: int,
        user_out: int,
        movie_out: int,
        id_embeddings: bool,
        relations: int,
        aggr: str,
        combine: str,
        dropout: float,
        content_dim: int = 0,
        movie_extra: int = 0,
    ) -> None:
        """movie_extra: movie input columns after the features (the rating encoder's basis,
        ModelConfig.rating_basis_dim)."""
        super().__init__()
        self.hidden, self.relations, self.aggr, self.combine = hidden, relations, aggr, combine
        self.has_ids = id_embeddings
        h = hidden
        self.user_proj = nn.Linear(cfg.user_in, h)
        self.movie_proj = _widened(nn.Linear(cfg.movie_in, h), movie_extra)
        if id_embeddings:
            self.user_emb = nn.Embedding(cfg.n_users, h)
            self.movie_emb = nn.Embedding(cfg.n_movies, h)
            nn.init.normal_(self.user_emb.weight, std=0.05)
            nn.init.normal_(self.movie_emb.weight, std=0.05)
        self.to_movie = nn.ModuleList([SAGEConvCSR((h, h), h, aggr="sum") for _ in range(2)])
        self.to_user = nn.ModuleList([SAGEConvCSR((h, h), h, aggr="sum") for _ in range(2)])
        if relations == 2:
            # root_weight=False: the node's own state enters once, through the `rates` layer.
            self.to_movie_dev = nn.ModuleList(
                [SAGEConvCSR((h, h), h, aggr="sum", root_weight=False) for _ in range(2)]
            )
            self.to_user_dev = nn.ModuleList(
                [SAGEConvCSR((h, h), h, aggr="sum", root_weight=False) for _ in range(2)]
            )
        self.user_head = nn.Linear(h, user_out)
        self.movie_head = nn.Linear(h, movie_out)
        self.dropout = nn.Dropout(dropout)
        # A linear map of the movie features onto the first `content_dim` movie outputs (the
        # vector, not a bias), which training pulls the vectors toward (reelgraph.train.losses.
        # content_alignment): movies with alike features stay alike, so neighbours in the space
        # share genres and themes. 0: none.
        self.content_head = (
            nn.Linear(cfg.movie_in, content_dim, bias=False) if content_dim else None
        )

    @torch.no_grad()
    def start_from_basis(
        self, user_rows: torch.Tensor, movie_rows: torch.Tensor, scale: float
    ) -> None:
        """Id embeddings from a spectral basis (reelgraph.graph.spectral), one factor for both
        sides so their dot products keep the basis's proportions, its entries' standard
        deviation `scale`; the heads start as the identity (as far as their shapes allow), so
        the first outputs read the basis through the layers' smoothing."""
        factor = scale / float(torch.cat([user_rows, movie_rows]).std().clamp(min=1e-12))
        self.user_emb.weight.copy_(user_rows.to(self.user_emb.weight) * factor)
        self.movie_emb.weight.copy_(movie_rows.to(self.movie_emb.weight) * factor)
        for head in (self.user_head, self.movie_head):
            nn.init.eye_(head.weight)
            nn.init.zeros_(head.bias)

    def forward(
        self,
        x_user: torch.Tensor,
        x_movie: torch.Tensor,
        graph: MessageGraph,
        keep_movie_states: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor] | None]:
        """(user head outputs, movie head outputs, the movie states each layer read)."""
        h_u, h_m = self.user_proj(x_user), self.movie_proj(x_movie)
        if self.has_ids:
            h_u = h_u + padded_rows(self.user_emb.weight, x_user.shape[0])
            h_m = h_m + padded_rows(self.movie_emb.weight, x_movie.shape[0])
        users, movies = [h_u], [h_m]
        for layer in range(2):
            # Both directions read the previous layer's states (a synchronous update).
            if layer == 0:
                agg = self._first_layer_aggregates(x_user, x_movie, graph)
            else:
                agg = graph.aggregate(h_u, h_m, self.aggr, self.relations)
            h_m, h_u = self._layer(layer, agg, h_m, h_u)
            users.append(h_u)
            movies.append(h_m)
        out_u, out_m = self._combined(users), self._combined(movies)
        return self.user_head(out_u), self.movie_head(out_m), movies if keep_movie_states else None

    def forward_block(
        self,
        x_user: torch.Tensor,
        x_movie: torch.Tensor,
        graph: MessageGraph,
        block: Block,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Head outputs of the block's seed users and movies only, over sampled neighbourhoods
        (see reelgraph.graph.sampling): the same function as `forward` in expectation, and exactly
        when every node keeps all its neighbours. graph: the epoch's message graph, for the
        exact first-layer aggregates of the features and the degrees."""
        rel, deviation = graph.relations, block.deviation
        u1, m1 = block.users1, block.movies1
        h_u = self.user_proj(x_user.index_select(0, u1))
        h_m = self.movie_proj(x_movie.index_select(0, m1))
        if self.has_ids:
            h_u = h_u + self.user_emb(u1)
            h_m = h_m + self.movie_emb(m1)
        # Layer 1 of the layer-1 nodes: exact feature aggregates, sampled id aggregates.
        cached = graph.input_aggregates(x_user, x_movie, self.aggr, self.relations)
        projections = [self.user_proj, self.movie_proj] * self.relations
        rows = [m1, u1] * self.relations
        agg = [
            nn.functional.linear(a.index_select(0, r), torch.cat([p.weight, p.bias[:, None]], 1))
            for a, p, r in zip(cached, projections, rows, strict=True)
        ]
        if self.has_ids:
            self._add_sampled_id_aggregates(agg, block, rel, deviation)
        h1_m, h1_u = self._layer(0, agg, h_m, h_u)
        # Layer 2 of the seeds, over their sampled layer-1 neighbours.
        n_u, n_m = block.users.numel(), block.movies.numel()
        agg2 = []
        for r in range(self.relations):
            dev = deviation if r == 1 else None
            agg2.append(
                self._sampled(
                    h1_u,
                    block.movie_nbr2,
                    u1[block.movie_nbr2],
                    block.movie_slot2,
                    block.movie_valid2,
                    rel.deg_movie[block.movies],
                    rel.deg_user,
                    dev,
                )
            )
            agg2.append(
                self._sampled(
                    h1_m,
                    block.user_nbr2,
                    m1[block.user_nbr2],
                    block.user_slot2,
                    block.user_valid2,
                    rel.deg_user[block.users],
                    rel.deg_movie,
                    dev,
                )
            )
        h2_m, h2_u = self._layer(1, agg2, h1_m[:n_m], h1_u[:n_u])
        users = [h_u[:n_u], h1_u[:n_u], h2_u]
        movies = [h_m[:n_m], h1_m[:n_m], h2_m]
        return self.user_head(self._combined(users)), self.movie_head(self._combined(movies))

    def _add_sampled_id_aggregates(
        self,
        agg: list[torch.Tensor],
        block: Block,
        rel: Relations,
        deviation: torch.Tensor | None,
    ) -> None:
        """Layer 1 of the layer-1 nodes, id part: the id embeddings of their sampled
        neighbours, added in place to the exact feature aggregates `agg`."""
        assert block.user_nbr1 is not None and block.movie_nbr1 is not None
        u1, m1 = block.users1, block.movies1
        for r in range(self.relations):
            dev = deviation if r == 1 else None
            agg[2 * r] = agg[2 * r] + self._sampled(
                self.user_emb.weight,
                block.movie_nbr1,
                block.movie_nbr1,
                block.movie_slot1,
                block.movie_valid1,
                rel.deg_movie[m1],
                rel.deg_user,
                dev,
            )
            agg[2 * r + 1] = agg[2 * r + 1] + self._sampled(
                self.movie_emb.weight,
                block.user_nbr1,
                block.user_nbr1,
                block.user_slot1,
                block.user_valid1,
                rel.deg_user[u1],
                rel.deg_movie,
                dev,
            )

    def _layer(
        self, layer: int, agg: list[torch.Tensor], h_m: torch.Tensor, h_u: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One GraphSAGE layer's update of movies and users from their aggregates."""
        new_m = self.to_movie[layer].combine(agg[0], h_m)
        new_u = self.to_user[layer].combine(agg[1], h_u)
        if self.relations == 2:
            new_m = new_m + self.to_movie_dev[layer].combine(agg[2], None)
            new_u = new_u + self.to_user_dev[layer].combine(agg[3], None)
        if layer == 0:
            new_m, new_u = self.dropout(torch.relu(new_m)), self.dropout(torch.relu(new_u))
        return new_m, new_u

    def _sampled(
        self,
        states: torch.Tensor,
        pos: torch.Tensor,
        nbr: torch.Tensor,
        slot: torch.Tensor,
        valid: torch.Tensor,
        dst_degree: torch.Tensor,
        src_degree: torch.Tensor,
        deviation: torch.Tensor | None,
    ) -> torch.Tensor:
        """A sampled estimate of the aggregate this encoder's norm defines (see
        reelgraph.graph.sparse.Relations): mean = sum / kept count; sym = degree / kept count x the
        sum of x_w / sqrt(d_v d_w)."""
        count = valid.sum(1).clamp(min=1).to(states.dtype)
        weight = None if deviation is None else deviation[slot]
        if self.aggr == "mean":
            scale = count.reciprocal()
        else:
            inv_src = src_degree.clamp(min=1.0).rsqrt()[nbr]
            weight = inv_src if weight is None else weight * inv_src
            scale = dst_degree.clamp(min=1.0).sqrt() / count
        return sampled_mean(states, pos, valid, weight, scale)

    def _combined(self, states: list[torch.Tensor]) -> torch.Tensor:
        return states[-1] if self.combine == "last" else torch.stack(states).mean(0)

    def _first_layer_aggregates(
        self, x_user: torch.Tensor, x_movie: torch.Tensor, graph: MessageGraph
    ) -> list[torch.Tensor]:
        """The first layer's aggregates of the input states, A @ (x W^T + b [+ E]), computed as
        (A @ [x, 1]) @ [W, b]^T [+ A @ E]: the same numbers, but the sparse products of the
        constant features need no backward pass and a reused graph keeps them between passes.
        Only the id embeddings E (parameters) are aggregated with gradient."""
        aggregates = graph.input_aggregates(x_user, x_movie, self.aggr, self.relations)
        # Aggregates alternate (to movies, to users): users' features reach movies, and back.
        projections = [self.user_proj, self.movie_proj] * self.relations
        out = [
            nn.functional.linear(a, torch.cat([p.weight, p.bias[:, None]], 1))
            for a, p in zip(aggregates, projections, strict=True)
        ]
        if self.has_ids:
            ids = graph.aggregate(
                padded_rows(self.user_emb.weight, x_user.shape[0]),
                padded_rows(self.movie_emb.weight, x_movie.shape[0]),
                self.aggr,
                self.relations,
            )
            out = [a + e for a, e in zip(out, ids, strict=True)]
        return out

    def new_users(
        self, x_new: torch.Tensor, graph: MessageGraph, movie_states: list[torch.Tensor]
    ) -> torch.Tensor:
        """Head outputs of users the model never saw (no id embedding), from their features and
        the movies they rated (graph: new users x movies), reading the trained movie states
        each layer read."""
        h_u = self.user_proj(x_new)
        users = [h_u]
        for layer in range(2):
            h_m = movie_states[layer]
            new_u = self.to_user[layer].combine(graph.to_users(h_m, self.aggr, 0), h_u)
            if self.relations == 2:
                new_u = new_u + self.to_user_dev[layer].combine(
                    graph.to_users(h_m, self.aggr, 1), None
                )
            h_u = self.dropout(torch.relu(new_u)) if layer == 0 else new_u
            users.append(h_u)
        return self.user_head(self._combined(users))


def _widened(proj: nn.Linear, extra: int) -> nn.Linear:
    """proj with `extra` more input columns, drawn as its own were (uniform within
    1 / sqrt(its inputs)) but from their own seed: the weights drawn after it, the ranking
    encoder's among them, start as they would without the extra inputs."""
    if not extra:
        return proj
    bound = proj.in_features**-0.5
    with torch.no_grad(), seeded_apart(torch.initial_seed() + 104_729):
        wide = nn.Linear(proj.in_features + extra, proj.out_features)
        more = torch.empty(proj.out_features, extra).uniform_(-bound, bound)
        wide.weight.copy_(torch.cat([proj.weight, more], 1))
        wide.bias.copy_(proj.bias)
    return wide
