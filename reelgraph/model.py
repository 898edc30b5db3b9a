"""GraphSAGE recommender over the bipartite user-movie graph (PyG SAGEConv layers): two 2-layer
encoders, one for predicted ratings and one for the top-K order, each one matrix product over
the whole catalogue at scoring time.

Encoders (SAGEEncoder): both node types are projected into one hidden space (plus learned id
embeddings where enabled), then two GraphSAGE layers pass messages in both directions over
one or two relations:
  - `rates`:     the neighbours' states, averaged (GraphSAGE's mean) or degree-normalised
                 (1 / sqrt(d_u d_m), as GCN and LightGCN do);
  - `rates_dev`: the same weighted by (rating - global mean), so a user's state knows what they
                 liked and disliked, not only what they watched.
Messages run over torch-native CSR adjacency (see reelgraph.graph), so no pyg-lib / torch-sparse.
The output is the last layer's state, or the mean of the input and both layers' states (as
LightGCN combines its layers: the id embedding reaches the output directly as well as through
its neighbours).

Decoder, two outputs from two encoders:
    rating(u, m) = global_mean + b_u + b_m + <z_u, z_m>   (stars; MSE)
    rank(u, m)   = <y_u, y_m> + c_m                        (the list; sampled softmax or BPR)
A rating model alone ranks poorly over the whole catalogue: it puts rarely-rated movies with a
few high ratings on top. The ranking encoder learns which movies a user will watch and like,
with its own settings (id embeddings help it and hurt ratings, which they memorise). With
`rank_temperature` > 0 the ranking vectors are unit length (y_m divided by the temperature),
so `similar` and explanations read a cosine. With rank_head=False the ranking is the
predicted rating.

Users with no id embedding (added after training, or cold) are encoded from their features and
the movies they rated: inductive scoring without retraining.

Imports only torch / torch_geometric / numpy.
"""

from __future__ import annotations

import dataclasses
import warnings

import torch
from torch import nn

from reelgraph.conventions import RATING_MAX, RATING_MIN
from reelgraph.graph import BipartiteAdjacency, EdgeWeights, Relations, SparsePair
from reelgraph.sampling import Block, sampled_mean

with warnings.catch_warnings():
    # torch_geometric on a newer torch warns about an API it still uses; nothing we can act on.
    warnings.simplefilter("ignore", DeprecationWarning)
    from torch_geometric.nn import SAGEConv

COMBINES = ("last", "mean")


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


@dataclasses.dataclass
class ModelConfig:
    """Everything needed to rebuild the model; saved inside every checkpoint."""

    n_users: int
    n_movies: int
    user_in: int
    movie_in: int
    # The rating encoder.
    hidden: int = 64
    embed_dim: int = 32
    # Off by default: on ml-latest-small validation they made ratings worse (RMSE 0.8626 vs
    # 0.8546): they memorise the train ratings.
    id_embeddings: bool = False
    rating_messages: bool = True
    dropout: float = 0.2
    global_mean: float = 3.5
    rating_min: float = RATING_MIN
    rating_max: float = RATING_MAX
    # The ranking encoder (rank_head=False: rank by predicted rating, no second encoder).
    rank_head: bool = True
    rank_hidden: int = 64
    rank_dim: int = 64
    rank_id_embeddings: bool = True
    rank_rating_messages: bool = False
    rank_aggr: str = "mean"  # "mean" | "sym" (see reelgraph.graph.Relations)
    rank_combine: str = "mean"  # "last" | "mean" of the input and both layers' states
    rank_dropout: float = 0.0
    rank_temperature: float = 0.2  # > 0: cosine / temperature; 0: plain dot product

    def __post_init__(self) -> None:
        if self.rank_combine not in COMBINES:
            raise ValueError(f"rank_combine must be one of {COMBINES}, got {self.rank_combine!r}")
        for name in ("hidden", "embed_dim", "rank_hidden", "rank_dim"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("dropout", "rank_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if not self.rank_temperature >= 0.0:
            raise ValueError(f"rank_temperature must be 0 or more, got {self.rank_temperature}")


@dataclasses.dataclass
class Encoded:
    """Node outputs of the encoders: embeddings and biases of every user and movie."""

    z_user: torch.Tensor  # (n_users, embed_dim) rating embeddings
    b_user: torch.Tensor  # (n_users,)
    z_movie: torch.Tensor  # (n_movies, embed_dim)
    b_movie: torch.Tensor  # (n_movies,)
    c_movie: torch.Tensor  # (n_movies,) ranking bias
    y_user: torch.Tensor  # (n_users, rank_dim) ranking embeddings
    y_movie: torch.Tensor  # (n_movies, rank_dim)
    movie_states: list[torch.Tensor] | None = None  # rating encoder's layer inputs (inductive)
    rank_movie_states: list[torch.Tensor] | None = None  # the same, of the ranking encoder


@dataclasses.dataclass
class MessageGraph:
    """The adjacency one forward pass uses (see reelgraph.graph.Relations).

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
        the graph is aggregated once per norm and shared by the encoders that read it."""
        kept = self._kept.get(norm)
        if kept is None or kept[0] is not x_user or kept[1] is not x_movie:
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
                self._kept[norm] = kept
        return kept[2][: 2 * n_relations]


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
    ) -> None:
        super().__init__()
        self.hidden, self.relations, self.aggr, self.combine = hidden, relations, aggr, combine
        self.has_ids = id_embeddings
        h = hidden
        self.user_proj = nn.Linear(cfg.user_in, h)
        self.movie_proj = nn.Linear(cfg.movie_in, h)
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

    def _id_rows(self, emb: nn.Embedding, n: int) -> torch.Tensor:
        """The embedding table, with zero rows for nodes added after training (no id)."""
        w = emb.weight
        if n > w.shape[0]:
            w = torch.cat([w, w.new_zeros(n - w.shape[0], w.shape[1])])
        return w

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
            h_u = h_u + self._id_rows(self.user_emb, x_user.shape[0])
            h_m = h_m + self._id_rows(self.movie_emb, x_movie.shape[0])
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
        deviation: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Head outputs of the block's seed users and movies only, over sampled neighbourhoods
        (see reelgraph.sampling): the same function as `forward` in expectation, and exactly
        when every node keeps all its neighbours. graph: the epoch's message graph, for the
        exact first-layer aggregates of the features and the degrees; deviation: each train
        edge's rating minus the global mean (canonical order), for `rates_dev`."""
        rel = graph.relations
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
            assert block.user_nbr1 is not None and block.movie_nbr1 is not None
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
        reelgraph.graph.Relations): mean = sum / kept count; sym = degree / kept count x the
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
                self._id_rows(self.user_emb, x_user.shape[0]),
                self._id_rows(self.movie_emb, x_movie.shape[0]),
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


class GraphSAGERecommender(nn.Module):
    """The rating encoder, the ranking encoder, and the decoder both outputs share."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.embed_dim
        # Rating embedding z and bias b of users and movies.
        self.rating = SAGEEncoder(
            cfg,
            cfg.hidden,
            d + 1,
            d + 1,
            cfg.id_embeddings,
            2 if cfg.rating_messages else 1,
            "mean",
            "last",
            cfg.dropout,
        )
        # Ranking embedding y of users, y and bias c of movies.
        self.ranking = (
            SAGEEncoder(
                cfg,
                cfg.rank_hidden,
                cfg.rank_dim,
                cfg.rank_dim + 1,
                cfg.rank_id_embeddings,
                2 if cfg.rank_rating_messages else 1,
                cfg.rank_aggr,
                cfg.rank_combine,
                cfg.rank_dropout,
            )
            if cfg.rank_head
            else None
        )

    @property
    def needs_rating_messages(self) -> bool:
        return self.cfg.rating_messages or (self.cfg.rank_head and self.cfg.rank_rating_messages)

    # ------------------------------------------------------------------ encoding

    def encode_rating(
        self, x_user: torch.Tensor, x_movie: torch.Tensor, graph: MessageGraph, keep: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, list | None]:
        """(z_user, b_user, z_movie, b_movie, movie states)."""
        u, m, states = self.rating(x_user, x_movie, graph, keep)
        return (*self._rating_outputs(u, m), states)

    def encode_ranking(
        self, x_user: torch.Tensor, x_movie: torch.Tensor, graph: MessageGraph, keep: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list | None]:
        """(y_user, y_movie, c_movie, movie states)."""
        assert self.ranking is not None
        u, m, states = self.ranking(x_user, x_movie, graph, keep)
        return (*self._ranking_outputs(u, m), states)

    def encode_rating_block(
        self,
        x_user: torch.Tensor,
        x_movie: torch.Tensor,
        graph: MessageGraph,
        block: Block,
        deviation: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """encode_rating of a mini-batch block's seed users and movies only (rows in the
        block's order): (z_user, b_user, z_movie, b_movie)."""
        return self._rating_outputs(
            *self.rating.forward_block(x_user, x_movie, graph, block, deviation)
        )

    def encode_ranking_block(
        self,
        x_user: torch.Tensor,
        x_movie: torch.Tensor,
        graph: MessageGraph,
        block: Block,
        deviation: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """encode_ranking of a block's seeds only: (y_user, y_movie, c_movie)."""
        assert self.ranking is not None
        return self._ranking_outputs(
            *self.ranking.forward_block(x_user, x_movie, graph, block, deviation)
        )

    def _rating_outputs(
        self, u: torch.Tensor, m: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        d = self.cfg.embed_dim
        # Contiguous copies: gathers of millions of rows from a strided view run several times slower.
        return (
            u[:, :d].contiguous(),
            u[:, d].contiguous(),
            m[:, :d].contiguous(),
            m[:, d].contiguous(),
        )

    def _ranking_outputs(
        self, u: torch.Tensor, m: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        d = self.cfg.rank_dim
        return self._rank_user(u), self._rank_movie(m[:, :d]), m[:, d].contiguous()

    def _rank_user(self, y: torch.Tensor) -> torch.Tensor:
        if self.cfg.rank_temperature > 0:
            return nn.functional.normalize(y, dim=1)
        return y.contiguous()

    def _rank_movie(self, y: torch.Tensor) -> torch.Tensor:
        if self.cfg.rank_temperature > 0:
            return nn.functional.normalize(y, dim=1) / self.cfg.rank_temperature
        return y.contiguous()

    def encode(
        self,
        x_user: torch.Tensor,
        x_movie: torch.Tensor,
        graph: MessageGraph,
        keep_movie_states: bool = False,
    ) -> Encoded:
        z_u, b_u, z_m, b_m, states = self.encode_rating(x_user, x_movie, graph, keep_movie_states)
        if self.ranking is None:
            return Encoded(z_u, b_u, z_m, b_m, torch.zeros_like(b_m), z_u, z_m, states)
        y_u, y_m, c_m, rank_states = self.encode_ranking(x_user, x_movie, graph, keep_movie_states)
        return Encoded(z_u, b_u, z_m, b_m, c_m, y_u, y_m, states, rank_states)

    def encode_new_users(
        self, x_new: torch.Tensor, graph: MessageGraph, enc: Encoded
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Inductive GraphSAGE: (z, b, y) of users the model never saw, from their features and
        the movies they rated (graph.relations: new users x movies, toward users only), reading
        the trained movie states of each layer (enc from encode(keep_movie_states=True))."""
        if enc.movie_states is None:
            raise ValueError("encode(..., keep_movie_states=True) first")
        u = self.rating.new_users(x_new, graph, enc.movie_states)
        d = self.cfg.embed_dim
        z, b = u[:, :d].contiguous(), u[:, d].contiguous()
        if self.ranking is None:
            return z, b, z
        assert enc.rank_movie_states is not None
        y = self._rank_user(self.ranking.new_users(x_new, graph, enc.rank_movie_states))
        return z, b, y

    # ------------------------------------------------------------------ decoding

    def predict(self, enc: Encoded, users: torch.Tensor, movies: torch.Tensor) -> torch.Tensor:
        """Unclamped predicted ratings (stars) of (user, movie) pairs: training uses these."""
        # index_select: its backward is an index_add, where plain indexing's is a sort-based
        # index_put (several times slower on CPU for millions of edges).
        dot = pair_dot(enc.z_user, enc.z_movie, users, movies)
        return (
            self.cfg.global_mean
            + enc.b_user.index_select(0, users)
            + enc.b_movie.index_select(0, movies)
            + dot
        )

    def score_all(
        self, enc: Encoded, users: torch.Tensor, out: torch.Tensor | None = None
    ) -> torch.Tensor:
        """(len(users), n_movies) predicted ratings of every movie: one matrix product. `out`:
        a buffer to write into (a batch loop that reuses one skips re-faulting ~1 GB pages)."""
        s = torch.addmm(
            enc.b_movie[None, :] + self.cfg.global_mean, enc.z_user[users], enc.z_movie.T, out=out
        )
        return s.add_(enc.b_user[users, None])

    def rank_pairs(self, enc: Encoded, users: torch.Tensor, movies: torch.Tensor) -> torch.Tensor:
        if self.ranking is None:
            return self.predict(enc, users, movies)
        return pair_dot(enc.y_user, enc.y_movie, users, movies) + enc.c_movie.index_select(
            0, movies
        )

    def rank_all(
        self, enc: Encoded, users: torch.Tensor, out: torch.Tensor | None = None
    ) -> torch.Tensor:
        """(len(users), n_movies) ranking scores (higher first): one matrix product."""
        if self.ranking is None:
            return self.score_all(enc, users, out)
        return torch.addmm(enc.c_movie[None, :], enc.y_user[users], enc.y_movie.T, out=out)

    def clamp(self, ratings: torch.Tensor) -> torch.Tensor:
        return ratings.clamp(self.cfg.rating_min, self.cfg.rating_max)


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
