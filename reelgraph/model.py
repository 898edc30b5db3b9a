"""A 2-layer GraphSAGE rating model over the bipartite user-movie graph (PyG SAGEConv layers).

Encoder: both node types are projected into one hidden space (plus optional learned id
embeddings), then two GraphSAGE layers pass messages in both directions over two relations:
  - `rates`:     mean of the neighbours' states (who rated what);
  - `rates_dev`: mean of the neighbours' states weighted by (rating - global mean), so a user's
                 state knows what they liked and disliked, not only what they watched.
Messages run over torch-native CSR adjacency (`spmm` in PyG), so no pyg-lib / torch-sparse.

Decoder: two outputs from the same embeddings, each one matrix product for all movies:
    rating(u, m) = global_mean + b_u + b_m + <z_u, z_m>   (stars; trained with MSE)
    rank(u, m)   = <y_u, y_m> + c_m                        (trained with BPR: watched > random)
A rating model alone ranks poorly over the whole catalogue: it puts rarely-rated movies with
a few high ratings on top. The ranking output learns which movies a user will watch and like;
top-K lists use it, and predicted ratings stay calibrated in stars. With rank_head=False the
ranking is the predicted rating.

The two outputs want different amounts of training: on ml-latest-small validation RMSE is best
after ~50 epochs, validation NDCG@20 after ~300. Training therefore keeps a snapshot of the
weights at each output's best epoch; the saved model is the rating snapshot with the ranking
snapshot attached as `ranker` (same architecture), whose y and c replace the rating snapshot's.

Imports only torch / torch_geometric / numpy.
"""

from __future__ import annotations

import dataclasses
import warnings

import torch
from torch import nn

from reelgraph.graph import BipartiteAdjacency, EdgeWeights, SparsePair

with warnings.catch_warnings():
    # torch_geometric on a newer torch warns about an API it still uses; nothing we can act on.
    warnings.simplefilter("ignore", DeprecationWarning)
    from torch_geometric.nn import SAGEConv


class SAGEConvCSR(SAGEConv):
    """PyG's SAGEConv (its parameters, initialisation and update rule:
    out = lin_l(aggregate(x_src)) + lin_r(x_dst)), aggregating with a SparsePair whose weights
    already encode the mean, so forward and backward are each one CSR product."""

    def forward(self, x: tuple[torch.Tensor, torch.Tensor], adj: SparsePair) -> torch.Tensor:  # type: ignore[override]
        x_src, x_dst = x
        return self.combine(adj @ x_src, x_dst)

    def combine(self, aggregated: torch.Tensor, x_dst: torch.Tensor | None) -> torch.Tensor:
        """The update rule from an aggregate computed elsewhere (see GraphSAGERecommender)."""
        out = self.lin_l(aggregated)
        if self.root_weight:
            out = out + self.lin_r(x_dst)
        return out


class _PairDot(torch.autograd.Function):
    """<a[i], b[j]> for every pair of index vectors (i, j), in chunks, without keeping the
    gathered (pairs x d) rows for the backward pass: it gathers them again. On 25M ratings an
    epoch scores 5M supervision edges and 2M BPR pairs; autograd's plain gather-multiply-sum kept
    about 2 GB of such rows alive until the backward pass."""

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
    hidden: int = 64
    embed_dim: int = 32
    # Off by default: on ml-latest-small validation they made both outputs worse (RMSE 0.8626
    # vs 0.8546, NDCG@20 0.131 vs 0.143): they memorise the train ratings.
    id_embeddings: bool = False
    rating_messages: bool = True
    dropout: float = 0.1
    global_mean: float = 3.5
    rating_min: float = 0.5
    rating_max: float = 5.0
    rank_head: bool = True


@dataclasses.dataclass
class Encoded:
    """Node outputs of the encoder: embeddings and biases of every user and movie."""

    z_user: torch.Tensor  # (n_users, embed_dim)
    b_user: torch.Tensor  # (n_users,)
    z_movie: torch.Tensor  # (n_movies, embed_dim)
    b_movie: torch.Tensor  # (n_movies,)
    c_movie: torch.Tensor  # (n_movies,) ranking bias
    y_user: torch.Tensor  # (n_users, embed_dim) ranking embeddings
    y_movie: torch.Tensor  # (n_movies, embed_dim)
    movie_states: list[torch.Tensor] | None = None  # per-layer movie inputs, for inductive scoring
    rank_movie_states: list[torch.Tensor] | None = None  # the same, of the ranking snapshot


@dataclasses.dataclass
class MessageGraph:
    """The adjacency one forward pass uses: CSR matrices (dst x src) per relation and direction.

    reuse_inputs: keep the first layer's aggregates of the input features (`input_aggregates`)
    for the next pass with the same features; set on a graph that is encoded again and again,
    such as the full train graph of every validation pass."""

    to_movie: SparsePair
    to_user: SparsePair
    to_movie_dev: SparsePair | None = None
    to_user_dev: SparsePair | None = None
    reuse_inputs: bool = False
    _kept: tuple | None = dataclasses.field(default=None, repr=False)

    def aggregate(self, src_user: torch.Tensor, src_movie: torch.Tensor) -> list[torch.Tensor]:
        """[to movies, to users] (+ [to movies, to users] of rates_dev): one product each."""
        out = [self.to_movie @ src_user, self.to_user @ src_movie]
        if self.to_movie_dev is not None and self.to_user_dev is not None:
            out += [self.to_movie_dev @ src_user, self.to_user_dev @ src_movie]
        return out

    def input_aggregates(self, x_user: torch.Tensor, x_movie: torch.Tensor) -> list[torch.Tensor]:
        """`aggregate` of the input features with a column of ones appended, without gradient:
        the features are constants, so a layer that aggregates them instead of their projection
        needs no backward product (see GraphSAGERecommender._first_layer_aggregates)."""
        if self._kept is not None and self._kept[0] is x_user and self._kept[1] is x_movie:
            return self._kept[2]
        with torch.no_grad():
            ones_u = x_user.new_ones(x_user.shape[0], 1)
            ones_m = x_movie.new_ones(x_movie.shape[0], 1)
            agg = self.aggregate(torch.cat([x_user, ones_u], 1), torch.cat([x_movie, ones_m], 1))
        if self.reuse_inputs:
            self._kept = (x_user, x_movie, agg)
        return agg


class GraphSAGERecommender(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        h = cfg.hidden
        self.user_proj = nn.Linear(cfg.user_in, h)
        self.movie_proj = nn.Linear(cfg.movie_in, h)
        if cfg.id_embeddings:
            self.user_emb = nn.Embedding(cfg.n_users, h)
            self.movie_emb = nn.Embedding(cfg.n_movies, h)
            nn.init.normal_(self.user_emb.weight, std=0.05)
            nn.init.normal_(self.movie_emb.weight, std=0.05)
        self.to_movie = nn.ModuleList([SAGEConvCSR((h, h), h, aggr="sum") for _ in range(2)])
        self.to_user = nn.ModuleList([SAGEConvCSR((h, h), h, aggr="sum") for _ in range(2)])
        if cfg.rating_messages:
            # root_weight=False: the node's own state enters once, through the `rates` layer.
            self.to_movie_dev = nn.ModuleList(
                [SAGEConvCSR((h, h), h, aggr="sum", root_weight=False) for _ in range(2)]
            )
            self.to_user_dev = nn.ModuleList(
                [SAGEConvCSR((h, h), h, aggr="sum", root_weight=False) for _ in range(2)]
            )
        # Rating embedding z and bias b; ranking embedding y (and the movie's ranking bias c).
        self.user_head = nn.Linear(h, 2 * cfg.embed_dim + 1)
        self.movie_head = nn.Linear(h, 2 * cfg.embed_dim + 2)
        self.dropout = nn.Dropout(cfg.dropout)
        self.ranker: GraphSAGERecommender | None = None

    def attach_ranker(self, state_dict: dict[str, torch.Tensor]) -> None:
        """Take the ranking output (y, c) from these weights (the ranking snapshot) from now on."""
        ranker = GraphSAGERecommender(self.cfg)
        ranker.load_state_dict(state_dict)
        self.ranker = ranker.to(next(self.parameters()).device)

    def encode(
        self,
        x_user: torch.Tensor,
        x_movie: torch.Tensor,
        graph: MessageGraph,
        keep_movie_states: bool = False,
    ) -> Encoded:
        enc = self._encode(x_user, x_movie, graph, keep_movie_states)
        if self.ranker is not None:
            r = self.ranker._encode(x_user, x_movie, graph, keep_movie_states)
            enc.y_user, enc.y_movie, enc.c_movie = r.y_user, r.y_movie, r.c_movie
            enc.rank_movie_states = r.movie_states
        return enc

    def _encode(
        self,
        x_user: torch.Tensor,
        x_movie: torch.Tensor,
        graph: MessageGraph,
        keep_movie_states: bool,
    ) -> Encoded:
        h_u, h_m = self.user_proj(x_user), self.movie_proj(x_movie)
        if self.cfg.id_embeddings:
            emb = self.user_emb.weight
            if x_user.shape[0] > emb.shape[0]:  # users added after training have no id embedding
                emb = torch.cat([emb, emb.new_zeros(x_user.shape[0] - emb.shape[0], emb.shape[1])])
            h_u, h_m = h_u + emb, h_m + self.movie_emb.weight
        movie_states = [h_m]
        for layer in range(2):
            # Both directions read the previous layer's states (a synchronous update).
            if layer == 0 and not self.cfg.id_embeddings:
                agg = self._first_layer_aggregates(x_user, x_movie, graph)
            else:
                agg = graph.aggregate(h_u, h_m)
            new_m = self.to_movie[layer].combine(agg[0], h_m)
            new_u = self.to_user[layer].combine(agg[1], h_u)
            if self.cfg.rating_messages:
                new_m = new_m + self.to_movie_dev[layer].combine(agg[2], None)
                new_u = new_u + self.to_user_dev[layer].combine(agg[3], None)
            if layer == 0:
                new_m, new_u = self.dropout(torch.relu(new_m)), self.dropout(torch.relu(new_u))
            h_u, h_m = new_u, new_m
            movie_states.append(h_m)
        enc = self._heads(h_u, h_m)
        if keep_movie_states:
            enc.movie_states = movie_states[:2]
        return enc

    def _first_layer_aggregates(
        self, x_user: torch.Tensor, x_movie: torch.Tensor, graph: MessageGraph
    ) -> list[torch.Tensor]:
        """The first layer's aggregates of the projected states, A @ (x W^T + b), computed as
        (A @ [x, 1]) @ [W, b]^T: the same numbers, but the sparse products read the constant
        input features, so they need no backward pass (a quarter of an epoch's sparse products)
        and the validation graph's can be kept from one epoch to the next. With id embeddings
        (parameters) the projected states are aggregated as in the later layer."""
        aggregates = graph.input_aggregates(x_user, x_movie)
        # Aggregates alternate (to movies, to users): users' features reach movies, and back.
        projections = [self.user_proj, self.movie_proj] * (len(aggregates) // 2)
        return [
            nn.functional.linear(a, torch.cat([p.weight, p.bias[:, None]], 1))
            for a, p in zip(aggregates, projections, strict=True)
        ]

    def encode_new_users(
        self, x_new: torch.Tensor, graph: MessageGraph, enc: Encoded
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Inductive GraphSAGE: states of users the model never saw, from their features and the
        movies they rated (graph.to_user*: new users x movies), reading the trained movie states
        of each layer (enc from encode(keep_movie_states=True)). No id embedding: these users have
        none. Returns (z, b, y)."""
        z, b, y = self._new_user_outputs(x_new, graph, enc.movie_states)
        if self.ranker is not None:
            _, _, y = self.ranker._new_user_outputs(x_new, graph, enc.rank_movie_states)
        return z, b, y

    def _new_user_outputs(
        self, x_new: torch.Tensor, graph: MessageGraph, movie_states: list[torch.Tensor] | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if movie_states is None:
            raise ValueError("encode(..., keep_movie_states=True) first")
        h_u = self.user_proj(x_new)
        for layer in range(2):
            h_m = movie_states[layer]
            new_u = self.to_user[layer]((h_m, h_u), graph.to_user)
            if self.cfg.rating_messages:
                new_u = new_u + self.to_user_dev[layer]((h_m, h_u), graph.to_user_dev)
            h_u = self.dropout(torch.relu(new_u)) if layer == 0 else new_u
        u = self.user_head(h_u)
        d = self.cfg.embed_dim
        return u[:, :d].contiguous(), u[:, d].contiguous(), u[:, d + 1 :].contiguous()

    def _heads(self, h_u: torch.Tensor, h_m: torch.Tensor) -> Encoded:
        u, m = self.user_head(h_u), self.movie_head(h_m)
        # Contiguous copies: gathers of millions of rows from a strided view run several times slower.
        d = self.cfg.embed_dim
        return Encoded(
            u[:, :d].contiguous(),
            u[:, d].contiguous(),
            m[:, :d].contiguous(),
            m[:, d].contiguous(),
            m[:, d + 1].contiguous(),
            u[:, d + 1 :].contiguous(),
            m[:, d + 2 :].contiguous(),
        )

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
        if not self.cfg.rank_head:
            return self.predict(enc, users, movies)
        return pair_dot(enc.y_user, enc.y_movie, users, movies) + enc.c_movie.index_select(
            0, movies
        )

    def rank_all(
        self, enc: Encoded, users: torch.Tensor, out: torch.Tensor | None = None
    ) -> torch.Tensor:
        """(len(users), n_movies) ranking scores (higher first): one matrix product."""
        if not self.cfg.rank_head:
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
    if deviation is None:
        ((to_m, to_u),) = adj.message_relations(keep, (None,))
        return MessageGraph(to_m, to_u, reuse_inputs=reuse_inputs)
    (to_m, to_u), (dev_m, dev_u) = adj.message_relations(keep, (None, deviation))
    return MessageGraph(to_m, to_u, dev_m, dev_u, reuse_inputs=reuse_inputs)
