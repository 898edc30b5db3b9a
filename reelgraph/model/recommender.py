"""GraphSAGE recommender over the bipartite user-movie graph (PyG SAGEConv layers): two 2-layer
encoders, one for predicted ratings and one for the top-K order, each one matrix product over
the whole catalogue at scoring time.

Encoders (SAGEEncoder): both node types are projected into one hidden space (plus learned id
embeddings where enabled; the rating encoder's movies also read fixed rows of the graph's
spectral basis, reelgraph.model.rating_basis), then two GraphSAGE layers pass messages in both
directions over one or two relations:
  - `rates`:     the neighbours' states, averaged (GraphSAGE's mean) or degree-normalised
                 (1 / sqrt(d_u d_m), as GCN and LightGCN do);
  - `rates_dev`: the same weighted by (rating - global mean), so a user's state knows what they
                 liked and disliked, not only what they watched.
Messages run over torch-native CSR adjacency (see reelgraph.graph.ratings), so no pyg-lib / torch-sparse.
The output is the last layer's state, or the mean of the input and both layers' states (as
LightGCN combines its layers: the id embedding reaches the output directly as well as through
its neighbours).

Decoder, two outputs from two encoders:
    rating(u, m) = global_mean + b_u + b_m + <z_u, z_m>   (stars; MSE)
The rating encoder can be K encoders from their own initial weights (ModelConfig.rating_members,
reelgraph.model.members), each trained on its own squared error; the rating is their average,
which is the same formula with z = [z^1, ..., z^K] / sqrt(K) and b the mean of their biases.
    rank(u, m)   = <y_u, y_m> + c_m                        (the list; sampled softmax or BPR)
A rating model alone ranks poorly over the whole catalogue: it puts rarely-rated movies with a
few high ratings on top. The ranking encoder learns which movies a user will watch and like,
with its own settings (id embeddings help it and hurt ratings, which they memorise). With
`rank_temperature` > 0 the ranking vectors are unit length (y_m divided by the temperature),
so `similar` and explanations read a cosine. With rank_head=False the ranking is the
predicted rating.

Users with no id embedding (added after training, or cold) are encoded from their features and
the movies they rated: inductive scoring without retraining.

The ranking output can carry a closed-form EASE channel beside the encoder's score, appended
to its vectors (reelgraph.model.item_filter): rank(u, m) = <y_u, y_m> + c_m + w <f_u, q_m>.

The decoder's formulas are in reelgraph.model.decoder (shared with the numpy readers).

Imports only torch / torch_geometric / numpy.
"""

from __future__ import annotations

import contextlib
import dataclasses

import torch
from torch import nn

from reelgraph.graph.messages import MessageGraph, message_graph
from reelgraph.graph.sampling import Block
from reelgraph.graph.spectral import spectral_basis
from reelgraph.model import decoder
from reelgraph.model.config import COMBINES, ModelConfig
from reelgraph.model.encoder import SAGEEncoder
from reelgraph.model.item_filter import ItemFilter, add_filter_scores
from reelgraph.model.layers import pair_dot
from reelgraph.model.members import EncoderMembers
from reelgraph.model.rating_basis import RatingBasis
from reelgraph.model.tensors import seeded_apart

__all__ = ["COMBINES", "Encoded", "GraphSAGERecommender", "ModelConfig", "message_graph"]


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
    # With the item filter's channel appended after the rank_dim columns (with_item_filter): the
    # movies whose channel rows are not zero (the filter's).
    filter_items: torch.Tensor | None = None


class GraphSAGERecommender(nn.Module):
    """The rating encoder, the ranking encoder, and the decoder both outputs share."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        # Rating embedding z and bias b of users and movies, from each member.
        members = [self._rating_member(k) for k in range(cfg.rating_members)]
        # One member keeps the single encoder's parameter names (older model files load).
        self.rating = members[0] if len(members) == 1 else EncoderMembers(members)
        # Its fixed movie inputs beside the features (ModelConfig.rating_basis_dim).
        self.rating_basis = RatingBasis(cfg.n_movies, cfg.rating_basis_dim)
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
                content_dim=cfg.rank_dim,
            )
            if cfg.rank_head
            else None
        )
        # How much the ranking bias c_m gives up per log(1 + train ratings) of the movie:
        # chosen on validation after training (reelgraph.train.filter_choice), 0 while training.
        # A likelihood trained over the whole catalogue learns popularity at the strength that
        # explains the heaviest users' positives; top-K lists gain from a little less.
        self.register_buffer("popularity_penalty", torch.zeros(()))
        # The ranking output's closed-form channel (reelgraph.model.item_filter): fitted and
        # weighted after training, appended to the ranking vectors by with_item_filter.
        self.item_filter = (
            ItemFilter(
                cfg.n_movies, cfg.rank_filter_dim, cfg.rank_filter_reg, cfg.rank_filter_items
            )
            if cfg.rank_head and cfg.rank_filter_dim > 0
            else None
        )

    def _rating_member(self, k: int) -> SAGEEncoder:
        """Rating member k. Members after the first draw their initial weights from their own
        seeds, so how many there are leaves the ranking encoder's draw (next) as it was."""
        cfg, d = self.cfg, self.cfg.embed_dim
        with seeded_apart(torch.initial_seed() + 7_919 * k) if k else contextlib.nullcontext():
            return SAGEEncoder(
                cfg,
                cfg.hidden,
                d + 1,
                d + 1,
                cfg.id_embeddings,
                2 if cfg.rating_messages else 1,
                "mean",
                "last",
                cfg.dropout,
                movie_extra=cfg.rating_basis_dim,
            )

    def with_item_filter(self, enc: Encoded, users: torch.Tensor, movies: torch.Tensor) -> Encoded:
        """enc with the item filter's channel appended to its ranking vectors, each user's from
        the (users, movies) pairs they rated: the ranking scores become the fused ones."""
        if self.item_filter is None:
            return enc
        y_user, y_movie = self.item_filter.extend(enc.y_user, enc.y_movie, users, movies)
        return dataclasses.replace(
            enc,
            y_user=y_user,
            y_movie=y_movie,
            filter_items=self.item_filter.items().to(y_movie.device),
        )

    def spectral_start(self, users: torch.Tensor, movies: torch.Tensor) -> None:
        """The ranking encoder's start from the spectral basis of these (user, movie) pairs
        (ModelConfig.rank_init; reelgraph.graph.spectral): a no-op for a random start."""
        encoder = self.ranking
        if encoder is None or not encoder.has_ids or self.cfg.rank_init != "spectral":
            return
        basis = spectral_basis(users, movies, self.cfg.n_users, self.cfg.n_movies, encoder.hidden)
        encoder.start_from_basis(*basis, self.cfg.rank_init_scale)

    @property
    def needs_rating_messages(self) -> bool:
        return self.cfg.rating_messages or (self.cfg.rank_head and self.cfg.rank_rating_messages)

    # ------------------------------------------------------------------ encoding

    def encode_rating(
        self, x_user: torch.Tensor, x_movie: torch.Tensor, graph: MessageGraph, keep: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, list | None]:
        """(z_user, b_user, z_movie, b_movie, movie states)."""
        u, m, states = self._rating_forward(x_user, x_movie, graph, keep=keep)
        return (*self._rating_outputs(u, m), states)

    def encode_ranking(
        self, x_user: torch.Tensor, x_movie: torch.Tensor, graph: MessageGraph, keep: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list | None]:
        """(y_user, y_movie, c_movie, movie states)."""
        assert self.ranking is not None
        u, m, states = self.ranking(x_user, x_movie, graph, keep)
        y_u, y_m, c_m = self._ranking_outputs(u, m)
        # The degrees of the graph encoded: a movie no one rated yet has no penalty.
        c_m = c_m - self.popularity_penalty * torch.log1p(graph.relations.deg_movie).to(c_m.dtype)
        return y_u, y_m, c_m, states

    def encode_rating_block(
        self,
        x_user: torch.Tensor,
        x_movie: torch.Tensor,
        graph: MessageGraph,
        block: Block,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """encode_rating of a mini-batch block's seed users and movies only (rows in the
        block's order): (z_user, b_user, z_movie, b_movie)."""
        u, m, _ = self._rating_forward(x_user, x_movie, graph, block)
        return self._rating_outputs(u, m)

    def _rating_forward(
        self,
        x_user: torch.Tensor,
        x_movie: torch.Tensor,
        graph: MessageGraph,
        block: Block | None = None,
        keep: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor, list | None]:
        """The rating encoder's outputs (each member's z and b side by side) over the whole graph
        (with its movie states when keep), or over a block's seeds; its movies read the basis."""
        x_movie = self.rating_basis.inputs(x_movie)
        if block is None:
            return self.rating(x_user, x_movie, graph, keep)
        return (*self.rating.forward_block(x_user, x_movie, graph, block), None)

    def encode_ranking_block(
        self,
        x_user: torch.Tensor,
        x_movie: torch.Tensor,
        graph: MessageGraph,
        block: Block,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """encode_ranking of a block's seeds only: (y_user, y_movie, c_movie). Training only,
        where the popularity penalty is 0: it is not applied here."""
        assert self.ranking is not None
        return self._ranking_outputs(*self.ranking.forward_block(x_user, x_movie, graph, block))

    def _rating_outputs(
        self, u: torch.Tensor, m: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(z_user, b_user, z_movie, b_movie) of the members' average from the encoder's
        outputs, (z, b) of each member side by side."""
        return (*self._averaged(u), *self._averaged(m))

    def _averaged(self, out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        k, d = self.cfg.rating_members, self.cfg.embed_dim
        blocks = out.view(out.shape[0], k, d + 1)
        # New contiguous tensors: gathers of millions of rows from a strided view run several
        # times slower. One member: its own z and b, to the last bit.
        z = blocks[:, :, :d].reshape(out.shape[0], k * d)
        return (z / k**0.5 if k > 1 else z.contiguous()), blocks[:, :, d].mean(1)

    def member_predictions(
        self,
        x_user: torch.Tensor,
        x_movie: torch.Tensor,
        graph: MessageGraph,
        users: torch.Tensor,
        movies: torch.Tensor,
        block: Block | None = None,
    ) -> torch.Tensor:
        """(members, pairs) unclamped predicted stars of each rating member (each learns from
        its own error): over the whole graph, or over a block's seeds (users, movies: rows in
        the block's order)."""
        u, m, _ = self._rating_forward(x_user, x_movie, graph, block)
        k, d = self.cfg.rating_members, self.cfg.embed_dim
        bu, bm = u.view(-1, k, d + 1), m.view(-1, k, d + 1)
        # Member j of row i is row i * k + j of the (rows * k, ...) views: predict's formula
        # over them, so one member predicts exactly what predict does.
        step = torch.arange(k, device=users.device)[:, None]
        return self._stars(
            bu[:, :, :d].reshape(-1, d),
            bu[:, :, d].reshape(-1),
            bm[:, :, :d].reshape(-1, d),
            bm[:, :, d].reshape(-1),
            (users[None] * k + step).flatten(),
            (movies[None] * k + step).flatten(),
        ).view(k, -1)

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
        z, b = self._averaged(self.rating.new_users(x_new, graph, enc.movie_states))
        if self.ranking is None:
            return z, b, z
        assert enc.rank_movie_states is not None
        y = self._rank_user(self.ranking.new_users(x_new, graph, enc.rank_movie_states))
        return z, b, y

    # ------------------------------------------------------------------ decoding

    def predict(self, enc: Encoded, users: torch.Tensor, movies: torch.Tensor) -> torch.Tensor:
        """Unclamped predicted ratings (stars) of (user, movie) pairs."""
        return self._stars(enc.z_user, enc.b_user, enc.z_movie, enc.b_movie, users, movies)

    def _stars(
        self,
        z_user: torch.Tensor,
        b_user: torch.Tensor,
        z_movie: torch.Tensor,
        b_movie: torch.Tensor,
        users: torch.Tensor,
        movies: torch.Tensor,
    ) -> torch.Tensor:
        """global mean + b_u + b_m + <z_u, z_m> of (user, movie) row pairs."""
        # index_select: its backward is an index_add, where plain indexing's is a sort-based
        # index_put (several times slower on CPU for millions of edges).
        dot = pair_dot(z_user, z_movie, users, movies)
        return (
            self.cfg.global_mean
            + b_user.index_select(0, users)
            + b_movie.index_select(0, movies)
            + dot
        )

    def score_all(
        self, enc: Encoded, users: torch.Tensor, out: torch.Tensor | None = None
    ) -> torch.Tensor:
        """(len(users), n_movies) predicted ratings of every movie (reelgraph.model.decoder). `out`:
        a buffer to write into (a batch loop that reuses one skips re-faulting ~1 GB pages)."""
        return decoder.rating_scores(
            enc.z_user[users],
            enc.b_user[users],
            enc.z_movie,
            enc.b_movie,
            self.cfg.global_mean,
            out,
        )

    def rank_pairs(self, enc: Encoded, users: torch.Tensor, movies: torch.Tensor) -> torch.Tensor:
        if self.ranking is None:
            return self.predict(enc, users, movies)
        return pair_dot(enc.y_user, enc.y_movie, users, movies) + enc.c_movie.index_select(
            0, movies
        )

    def rank_all(
        self, enc: Encoded, users: torch.Tensor, out: torch.Tensor | None = None
    ) -> torch.Tensor:
        """(len(users), n_movies) ranking scores (higher first; reelgraph.model.decoder)."""
        if self.ranking is None:
            return self.score_all(enc, users, out)
        y_user = enc.y_user[users]
        if enc.filter_items is None:
            return decoder.ranking_scores(y_user, enc.y_movie, enc.c_movie, out)
        # The same <y_u, y_m> + c_m in two products: GraphSAGE's columns over the catalogue,
        # the channel's over its movies alone (at 25m the lists of every user took 71 s as
        # one product over 320 columns, most of them multiplying zeros).
        head = self.cfg.rank_dim
        s = decoder.ranking_scores(y_user[:, :head], enc.y_movie[:, :head], enc.c_movie, out)
        return add_filter_scores(s, y_user[:, head:], enc.y_movie[:, head:], enc.filter_items)

    def clamp(self, ratings: torch.Tensor) -> torch.Tensor:
        return decoder.clamp_rating(ratings, self.cfg.rating_min, self.cfg.rating_max)
