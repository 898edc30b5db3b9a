"""The settings that rebuild a GraphSAGERecommender (saved inside every model file).

Imports nothing heavy: the command line and the run spec read these fields before torch loads.
"""

from __future__ import annotations

import dataclasses

from reelgraph.core.conventions import RATING_MAX, RATING_MIN

COMBINES = ("last", "mean")
RANK_INITS = ("spectral", "random")


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
    # 0.3: on the three ml-latest-small splits' validation about 0.0017 below 0.2 (one encoder,
    # its last step; 0.4 no better), and with the moving average of the steps too.
    dropout: float = 0.3
    # How many rating encoders, each from its own initial weights and trained on its own
    # squared error, average their predicted stars (reelgraph.model.members). Their average is
    # one dot product of their vectors side by side over sqrt(K) plus their mean biases, so
    # scoring reads it as one model. On the three ml-latest-small splits' validation (with the
    # rating basis, dropout 0.3 and the moving average): one 0.8326 on average, two 0.8279,
    # three 0.8264 at 1.5 x two's time; synthetic small the same with one or two (0.6842).
    # Two by default: training and refit stay within 90 s on ml-latest-small (bench/
    # BENCHMARKS.md); a large export where the rating output's time matters more can set 1, as
    # synthetic 25m's config does.
    rating_members: int = 2
    # Fixed movie inputs of the rating encoder beside the features (reelgraph.model.
    # rating_basis): each movie's row of the top `rating_basis_dim` singular vectors of the
    # normalised train interactions (who rated what, not the stars), set before the first epoch.
    # On ml-latest-small validation the rating output read 0.8286 / 0.8294 / 0.8253 over three
    # training seeds against 0.8377 / 0.8396 / 0.8370 without (in a first form: 32 dims 0.8339,
    # 128 0.8319, the positives' basis 0.8327). Synthetic small lost 0.008 (0.6851 against
    # 0.6768): its generator draws who rates what apart from how they rate, so there the rows
    # are noise; MovieLens users pick what they expect to like (bench/BENCHMARKS.md). 0: none.
    rating_basis_dim: int = 64
    global_mean: float = 3.5
    rating_min: float = RATING_MIN
    rating_max: float = RATING_MAX
    # The ranking encoder (rank_head=False: rank by predicted rating, no second encoder).
    rank_head: bool = True
    rank_hidden: int = 64
    rank_dim: int = 64
    rank_id_embeddings: bool = True
    rank_rating_messages: bool = False
    rank_aggr: str = "mean"  # "mean" | "sym" (see reelgraph.graph.sparse.Relations)
    rank_combine: str = "mean"  # "last" | "mean" of the input and both layers' states
    rank_dropout: float = 0.0
    rank_temperature: float = 0.25  # > 0: cosine / temperature; 0: plain dot product
    # How the ranking encoder's id embeddings start: "spectral", from the top singular vectors
    # of the normalised train interactions (reelgraph.graph.spectral; its heads start as the
    # identity, so the first scores are that low-pass filter's), their entries' standard
    # deviation `rank_init_scale`; "random", small normal noise.
    rank_init: str = "spectral"
    rank_init_scale: float = 0.1
    # The ranking output's closed-form channel (reelgraph.model.item_filter): a rank-
    # `rank_filter_dim` EASE filter (L2 `rank_filter_reg`) over the `rank_filter_items` most
    # rated movies, its weight chosen on validation; 0 dims: GraphSAGE's part alone. On
    # ml-latest-small validation the fused score ranked above both parts (bench/BENCHMARKS.md).
    rank_filter_dim: int = 256
    rank_filter_reg: float = 250.0
    # 4,000 rather than the EASE baseline's 6,000: the fit is cubic in it (8 s -> 3 s on
    # ml-latest-small) and the fused list ranked the same on validation (NDCG@20 0.2473 against
    # 0.2468; synthetic small 0.2117 against 0.2121): past the 4,000 most rated movies
    # GraphSAGE's own part ranks alone.
    rank_filter_items: int = 4000

    def __post_init__(self) -> None:
        if self.rank_init not in RANK_INITS:
            raise ValueError(f"rank_init must be one of {RANK_INITS}, got {self.rank_init!r}")
        if not self.rank_init_scale > 0.0:
            raise ValueError(f"rank_init_scale must be above 0, got {self.rank_init_scale}")
        if self.rank_combine not in COMBINES:
            raise ValueError(f"rank_combine must be one of {COMBINES}, got {self.rank_combine!r}")
        for name in (
            "hidden",
            "embed_dim",
            "rating_members",
            "rank_hidden",
            "rank_dim",
            "rank_filter_items",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.rating_basis_dim < 0:
            raise ValueError(f"rating_basis_dim must be 0 or more, got {self.rating_basis_dim}")
        if self.rank_filter_dim < 0:
            raise ValueError(f"rank_filter_dim must be 0 or more, got {self.rank_filter_dim}")
        if not self.rank_filter_reg > 0.0:
            raise ValueError(f"rank_filter_reg must be above 0, got {self.rank_filter_reg}")
        for name in ("dropout", "rank_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if not self.rank_temperature >= 0.0:
            raise ValueError(f"rank_temperature must be 0 or more, got {self.rank_temperature}")
