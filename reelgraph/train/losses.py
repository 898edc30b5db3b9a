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
        """log E[times each movie appears among the candidates]: n_uniform / n_movies from the
        uniform draws plus n_in_batch x its popularity from the batch's positives."""
        expected = n_uniform / self.n_movies + n_in_batch * self.popularity[movies]
        return torch.log(expected.clamp(min=1e-12))


@dataclasses.dataclass
class Candidates:
    """The movies a step's loss reads besides the positives: (C,) shared by the batch for the
    softmax, (batch, draws) per positive for BPR; with the logQ of the positives and of each
    candidate (None: no correction)."""

    movies: torch.Tensor
    log_q_pos: torch.Tensor | None = None
    log_q: torch.Tensor | None = None


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
