"""Sampled neighbourhoods for mini-batch GraphSAGE, with torch alone (pyg-lib is not on PyPI).

On a large graph a training step that propagates over every edge costs seconds (25M ratings:
3-4 s on 2 cores), whatever the batch. GraphSAGE's answer is to compute only the nodes a batch
needs: the seeds (the batch's users and candidate movies), their layer-1 inputs (up to
`fanout[1]` sampled neighbours each), and the neighbours those read (`fanout[0]` each). A
sampled neighbourhood gives an unbiased estimate of the mean (or degree-normalised sum) over
all neighbours; a node with at most `fanout` neighbours keeps all of them, so with fanouts at
least the largest degree a block computes exactly what the full graph does (tested).

The first layer's aggregates of the constant input features are read exactly from the
epoch's full-graph products (MessageGraph.input_aggregates, computed once per epoch): only the
learned id embeddings are aggregated over sampled neighbours at that layer.

Imports only torch.
"""

from __future__ import annotations

import dataclasses

import torch

from reelgraph.graph.sparse import BipartiteAdjacency


@dataclasses.dataclass(frozen=True)
class NeighbourIndex:
    """Each node's neighbours as CSR, per direction, with the canonical slot of each edge (see
    BipartiteAdjacency) so per-edge values (message mask, rating deviation) can be read."""

    user_ptr: torch.Tensor  # (n_users + 1,)
    user_nbr: torch.Tensor  # movies of each user
    user_slot: torch.Tensor  # canonical slot of each of those edges
    movie_ptr: torch.Tensor
    movie_nbr: torch.Tensor  # users of each movie
    movie_slot: torch.Tensor

    @staticmethod
    def build(adj: BipartiteAdjacency) -> NeighbourIndex:
        def csr(rows: torch.Tensor, cols: torch.Tensor, n_rows: int):  # noqa: ANN202
            order = torch.sort(rows * (int(cols.max()) + 1 if cols.numel() else 1) + cols).indices
            ptr = torch.zeros(n_rows + 1, dtype=torch.long, device=rows.device)
            ptr[1:] = torch.cumsum(torch.bincount(rows, minlength=n_rows), 0)
            return ptr, cols[order].int(), order.int()

        u_ptr, u_nbr, u_slot = csr(adj.users, adj.movies, adj.n_users)
        m_ptr, m_nbr, m_slot = csr(adj.movies, adj.users, adj.n_movies)
        return NeighbourIndex(u_ptr, u_nbr, u_slot, m_ptr, m_nbr, m_slot)


@dataclasses.dataclass
class Sample:
    """Up to `fanout` neighbours of each seed: global neighbour ids, canonical edge slots, and
    each slot's weight in the seed's aggregate (0 for padding and for edges not passing
    messages): mean = 1 / kept count, scaled by degree / kept count for the sum norms."""

    nbr: torch.Tensor  # (seeds, fanout) int64
    slot: torch.Tensor  # (seeds, fanout) int64
    weight: torch.Tensor  # (seeds, fanout) float32


def sample_neighbours(
    ptr: torch.Tensor,
    nbr: torch.Tensor,
    slot: torch.Tensor,
    seeds: torch.Tensor,
    fanout: int,
    keep: torch.Tensor | None,
    gen: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(neighbours, slots, valid) of each seed: all of them when it has at most `fanout`,
    else `fanout` drawn uniformly with replacement. keep: canonical bool mask of the edges that
    pass messages (None: all)."""
    start = ptr[seeds]
    deg = ptr[seeds + 1] - start
    cols = torch.arange(fanout, device=seeds.device)
    draw = torch.randint(0, 2**62, (seeds.numel(), fanout), generator=gen, device=seeds.device)
    small = deg[:, None] <= fanout
    offset = torch.where(small, cols[None, :], draw % deg.clamp(min=1)[:, None])
    valid = ~small | (cols[None, :] < deg[:, None])
    pos = (start[:, None] + offset).clamp(max=max(nbr.numel() - 1, 0))
    s = slot[pos].long()
    if keep is not None:
        valid &= keep[s]
    return nbr[pos].long(), s, valid


@dataclasses.dataclass
class Block:
    """The computation of one mini-batch step: seeds, the layer-1 nodes they read, and the
    sampled neighbourhoods of both layers. Positions (`*_pos`) index into the layer-1 node
    lists; neighbour ids of layer 0 are global (their inputs are computed on the fly)."""

    users: torch.Tensor  # (U2,) seed users, global ids
    movies: torch.Tensor  # (M2,) seed movies
    users1: torch.Tensor  # (U1,) users whose layer-1 state is needed; seeds first
    movies1: torch.Tensor  # (M1,)
    # Layer 2: each seed's sampled neighbours, as positions in movies1 / users1.
    user_nbr2: torch.Tensor  # (U2, f) positions in movies1
    user_slot2: torch.Tensor
    user_valid2: torch.Tensor
    movie_nbr2: torch.Tensor  # (M2, f) positions in users1
    movie_slot2: torch.Tensor
    movie_valid2: torch.Tensor
    # Layer 1 (read only for id embeddings): sampled neighbours of the layer-1 nodes, global.
    user_nbr1: torch.Tensor | None = None  # (U1, f) movie ids
    user_slot1: torch.Tensor | None = None
    user_valid1: torch.Tensor | None = None
    movie_nbr1: torch.Tensor | None = None  # (M1, f) user ids
    movie_slot1: torch.Tensor | None = None
    movie_valid1: torch.Tensor | None = None
    # Each train edge's rating minus the global mean, canonical order (what `rates_dev` weighs
    # by; the slots above index it). None: the model has no deviation relation.
    deviation: torch.Tensor | None = None

    @staticmethod
    def build(
        index: NeighbourIndex,
        users: torch.Tensor,
        movies: torch.Tensor,
        fanout: tuple[int, int],
        keep: torch.Tensor | None,
        gen: torch.Generator,
        first_layer: bool,
        deviation: torch.Tensor | None = None,
    ) -> Block:
        """users, movies: unique seed ids. fanout: (layer 1, layer 2) neighbours per node.
        first_layer: also sample the layer-1 nodes' neighbours (for id embeddings).
        deviation: see the field."""
        un, us, uv = sample_neighbours(
            index.user_ptr, index.user_nbr, index.user_slot, users, fanout[1], keep, gen
        )
        mn, ms, mv = sample_neighbours(
            index.movie_ptr, index.movie_nbr, index.movie_slot, movies, fanout[1], keep, gen
        )
        users1, user_pos = _seeds_first(users, mn)
        movies1, movie_pos = _seeds_first(movies, un)
        block = Block(users, movies, users1, movies1, movie_pos, us, uv, user_pos, ms, mv)
        block.deviation = deviation
        if first_layer:
            block.user_nbr1, block.user_slot1, block.user_valid1 = sample_neighbours(
                index.user_ptr, index.user_nbr, index.user_slot, users1, fanout[0], keep, gen
            )
            block.movie_nbr1, block.movie_slot1, block.movie_valid1 = sample_neighbours(
                index.movie_ptr, index.movie_nbr, index.movie_slot, movies1, fanout[0], keep, gen
            )
        return block


def _seeds_first(seeds: torch.Tensor, more: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(seeds followed by the other ids of `more`, each once; position of every id of `more`)."""
    n = seeds.numel()
    ids, inverse = torch.unique(torch.cat([seeds, more.reshape(-1)]), return_inverse=True)
    # Put the seeds first, in their order: ids are renumbered by first appearance.
    rank = torch.full((ids.numel(),), -1, dtype=torch.long, device=seeds.device)
    rank[inverse[:n]] = torch.arange(n, device=seeds.device)
    rest = rank < 0
    rank[rest] = n + torch.arange(int(rest.sum()), device=seeds.device)
    ordered = torch.empty_like(ids)
    ordered[rank] = ids
    return ordered, rank[inverse[n:]].view(more.shape)


def sampled_mean(
    states: torch.Tensor,
    pos: torch.Tensor,
    valid: torch.Tensor,
    edge_weight: torch.Tensor | None,
    scale: torch.Tensor,
) -> torch.Tensor:
    """Each row's estimate of its aggregate: sum over its valid sampled neighbours of
    (edge weight x state), times `scale` (per row: e.g. 1 / valid count for a mean)."""
    w = valid.to(states.dtype)
    if edge_weight is not None:
        w = w * edge_weight
    gathered = states.index_select(0, pos.reshape(-1)).view(*pos.shape, states.shape[1])
    return torch.einsum("nf,nfd->nd", w, gathered) * scale[:, None]
