"""The ranking loss and the negatives it compares against.

A user's positive movie must outscore the movies they did not pick:
  - "softmax": sampled softmax (InfoNCE) of each positive against a shared set of candidates:
    `negatives` movies drawn uniformly, plus up to as many of the batch's positives (in-batch
    negatives, drawn by popularity). Each candidate's logit is corrected by the log of its
    expected count in the candidate set (logQ correction, Yi et al. 2019): without it in-batch
    negatives push popular movies down for being sampled often, not for being wrong. With
    `negatives` at least the catalogue size, the candidates are every movie: the exact
    softmax, uncorrected.
  - "bpr": pairwise, each positive against the highest-scoring of `negatives` uniform draws
    (a hard negative, as dynamic negative sampling does); 1 draw is plain BPR.
  - "multinomial": a step takes a batch of users and all their positives, and each positive
    is scored by the softmax over the whole catalogue of its user's logits (the multinomial
    likelihood of Mult-VAE, Liang et al. 2018): one row of logits per user, shared by all of
    that user's positives, so a step learns from every positive of its users for the price of
    one catalogue-wide product. On sampled neighbourhoods (large graphs) the catalogue is
    replaced by the batch's positive movies plus `negatives` uniform draws, each logit
    corrected by the log of the probability that its movie is among them (logQ).
A candidate that is the row's own positive (an accidental hit) is never a negative: it is
masked out of the softmax and never taken as a BPR negative.

The objective first names the movies it will read (`candidates`), so a mini-batch step can
compute the outputs of those movies alone (reelgraph.graph.sampling), then scores vectors.

Imports only torch.
"""

from __future__ import annotations

import dataclasses
import math

import torch

from reelgraph.train.config import RANK_LOSSES


@dataclasses.dataclass
class RankingBatch:
    """One step's positives: (user, movie) index pairs."""

    users: torch.Tensor
    movies: torch.Tensor


@dataclasses.dataclass
class NegativeSampler:
    """Uniform negatives over the catalogue, and each movie's share of the positives (the
    distribution in-batch negatives are drawn from), for the logQ correction."""

    n_movies: int
    popularity: torch.Tensor  # (n_movies,) share of the training positives, sums to 1

    @staticmethod
    def from_positives(movies: torch.Tensor, n_movies: int) -> NegativeSampler:
        counts = torch.bincount(movies, minlength=n_movies).double()
        return NegativeSampler(n_movies, (counts / counts.sum().clamp(min=1)).float())

    def uniform(self, shape: tuple[int, ...], gen: torch.Generator) -> torch.Tensor:
        device = self.popularity.device
        return torch.randint(0, self.n_movies, shape, generator=gen, device=device)

    def log_expected_count(
        self, movies: torch.Tensor, n_uniform: int, n_in_batch: int
    ) -> torch.Tensor:
        """log E[times each movie appears among the candidates] (expected_count)."""
        return torch.log(self.expected_count(movies, n_uniform, n_in_batch).clamp(min=1e-12))

    def expected_count(self, movies: torch.Tensor, n_uniform: int, n_in_batch: int) -> torch.Tensor:
        """E[times each movie is drawn]: n_uniform / n_movies from the uniform draws plus
        n_in_batch x its popularity from the batch's positives."""
        return n_uniform / self.n_movies + n_in_batch * self.popularity[movies]


@dataclasses.dataclass
class Candidates:
    """The movies a step's loss reads besides the positives: (C,) shared by the batch for the
    softmax, (batch, draws) per positive for BPR; with the logQ of the positives and of each
    candidate (None: no correction)."""

    movies: torch.Tensor
    log_q_pos: torch.Tensor | None = None
    log_q: torch.Tensor | None = None


@dataclasses.dataclass
class UserLists:
    """Each user's positive movies, grouped by user (CSR): what a multinomial step reads."""

    indptr: torch.Tensor  # (n_users + 1,) each user's span in `movies`
    movies: torch.Tensor  # (P,) positive movies, grouped by user
    active: torch.Tensor  # (A,) users with at least one positive, ascending

    @staticmethod
    def of(users: torch.Tensor, movies: torch.Tensor, n_users: int) -> UserLists:
        order = torch.argsort(users, stable=True)
        counts = torch.bincount(users, minlength=n_users)
        indptr = torch.zeros(n_users + 1, dtype=torch.long, device=users.device)
        indptr[1:] = torch.cumsum(counts, 0)
        return UserLists(indptr, movies[order], torch.nonzero(counts).flatten())

    def positives(self, users: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(rows, movies) of every positive of these users: rows index into `users`."""
        start, count = self.indptr[users], self.indptr[users + 1] - self.indptr[users]
        rows = torch.repeat_interleave(torch.arange(users.numel(), device=users.device), count)
        # Each positive's slot: its user's start plus its rank within the user.
        first = torch.cumsum(count, 0) - count
        slots = start[rows] + torch.arange(rows.numel(), device=users.device) - first[rows]
        return rows, self.movies[slots]


def multinomial_loss(
    user_vec: torch.Tensor,
    movie_vec: torch.Tensor,
    movie_bias: torch.Tensor,
    rows: torch.Tensor,
    cols: torch.Tensor,
    log_q: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean over the positives (rows[i]'s user, candidate cols[i]) of -log softmax of the user's
    logits <user, movie> + bias over the candidates (B users x C candidates), each logit less
    log_q where the candidates are a sample."""
    logits = torch.addmm(movie_bias[None, :], user_vec, movie_vec.T)
    if log_q is not None:
        logits = logits - log_q[None, :]
    return (torch.logsumexp(logits, 1).index_select(0, rows) - logits[rows, cols]).mean()


def content_alignment(movie_vec: torch.Tensor, projected: torch.Tensor) -> torch.Tensor:
    """Mean over movies of 1 - cos(movie output, its features' projection): a regulariser that
    keeps movies with alike features (genres, tags) near each other in the ranking space, where
    co-watching alone would scatter them (reelgraph.model.encoder.SAGEEncoder.content_head)."""
    return (1.0 - torch.nn.functional.cosine_similarity(movie_vec, projected, dim=1)).mean()


def log_inclusion(expected: torch.Tensor) -> torch.Tensor:
    """log P(a movie is among the sampled candidates) from its expected number of draws
    (Poisson: 1 - exp(-expected)); a popular movie that is nearly always there gets ~0."""
    return torch.log(-torch.expm1(-expected.clamp(min=1e-12)))


@dataclasses.dataclass
class RankingObjective:
    name: str
    sampler: NegativeSampler
    negatives: int
    in_batch: bool

    def __post_init__(self) -> None:
        if self.name not in RANK_LOSSES:
            raise ValueError(f"unknown ranking loss {self.name!r}; known: {', '.join(RANK_LOSSES)}")
        if self.negatives < 1:
            raise ValueError(f"rank_negatives must be at least 1, got {self.negatives}")

    @property
    def full_softmax(self) -> bool:
        return self.name == "softmax" and self.negatives >= self.sampler.n_movies

    def candidates(self, batch: RankingBatch, gen: torch.Generator) -> Candidates:
        pos = batch.movies
        if self.name == "multinomial":
            raise ValueError("the multinomial loss draws per user batch: multinomial_candidates")
        if self.name == "bpr":
            return Candidates(self.sampler.uniform((pos.numel(), self.negatives), gen))
        if self.full_softmax:
            return Candidates(torch.arange(self.sampler.n_movies, device=pos.device))
        cand = self.sampler.uniform((self.negatives,), gen)
        # In-batch negatives, at most `negatives`: logits stay (batch x 2 negatives) however
        # large the batch.
        n_in_batch = min(pos.numel(), self.negatives) if self.in_batch else 0
        if n_in_batch:
            cand = torch.cat([cand, pos[:n_in_batch]])
        return Candidates(
            cand,
            self.sampler.log_expected_count(pos, self.negatives, n_in_batch),
            self.sampler.log_expected_count(cand, self.negatives, n_in_batch),
        )

    def multinomial_candidates(self, positives: torch.Tensor, gen: torch.Generator) -> Candidates:
        """The sampled catalogue of a multinomial step on sampled neighbourhoods: the batch's
        positive movies and `negatives` uniform draws, each once (sorted), with the log of the
        probability that each is among them."""
        drawn = torch.cat([positives, self.sampler.uniform((self.negatives,), gen)])
        movies = torch.unique(drawn)
        expected = self.sampler.expected_count(movies, self.negatives, positives.numel())
        return Candidates(movies, log_q=log_inclusion(expected))

    def loss(
        self,
        user: torch.Tensor,
        pos_vec: torch.Tensor,
        pos_bias: torch.Tensor,
        cand_vec: torch.Tensor,
        cand_bias: torch.Tensor,
        batch: RankingBatch,
        cand: Candidates,
    ) -> torch.Tensor:
        """user, pos_vec: (B, d) vectors of the batch's users and positives; cand_vec, cand_bias:
        of `cand.movies` ((C, d) or (B, draws, d)). score = <user, movie> + movie bias."""
        pos_logit = (user * pos_vec).sum(-1) + pos_bias
        hits = (
            cand.movies == batch.movies[:, None]
            if cand.movies.dim() == 2
            else (cand.movies[None, :] == batch.movies[:, None])
        )
        if self.name == "bpr":
            return _hard_negative_bpr(user, pos_logit, cand_vec, cand_bias, hits)
        logits = torch.addmm(cand_bias[None, :], user, cand_vec.T)
        if cand.log_q is not None:
            logits = logits - cand.log_q[None, :]
            pos_logit = pos_logit - cand.log_q_pos
        logits = logits.masked_fill(hits, -math.inf)
        return (torch.logaddexp(pos_logit, torch.logsumexp(logits, 1)) - pos_logit).mean()


def _hard_negative_bpr(
    user: torch.Tensor,
    pos_logit: torch.Tensor,
    cand_vec: torch.Tensor,
    cand_bias: torch.Tensor,
    hits: torch.Tensor,
) -> torch.Tensor:
    """BPR of each positive against the highest-scoring of its draws that is not itself."""
    scores = torch.einsum("bd,bkd->bk", user, cand_vec) + cand_bias
    with torch.no_grad():
        hardest = scores.masked_fill(hits, -math.inf).argmax(1, keepdim=True)
        valid = ~hits.all(1)
    neg_logit = scores.gather(1, hardest).squeeze(1)
    if not bool(valid.any()):
        return user.sum() * 0.0
    return torch.nn.functional.softplus(neg_logit - pos_logit)[valid].mean()
