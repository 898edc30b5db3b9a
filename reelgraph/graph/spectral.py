"""The spectral basis of the rating graph: the top singular vectors of the degree-normalised
interaction matrix R~ = D_u^-1/2 X D_m^-1/2 (X: users x movies, 1 where a user rated a movie).

GF-CF's ideal low-pass filter (Shen et al. 2021) is built from the same vectors; LightGCN's
propagation is a smoothing by R~ as well. The ranking encoder's id embeddings start from them
(`ModelConfig.rank_init`): a user's and a movie's rows start as U sqrt(S) and V sqrt(S), whose
dot product is already the best rank-d approximation of R~, so training starts from a low-pass
graph filter instead of noise and needs far fewer epochs to rank well.

Imports only torch.
"""

from __future__ import annotations

import torch

from reelgraph.graph.keys import unique_pairs

SVD_SEED = 0  # the randomized SVD's start: a run's basis is a function of its data
POWER_ITERATIONS = 4  # subspace iterations: enough for a starting point
OVERSAMPLE = 16  # extra columns of the random start, as randomized SVDs need to find the top


@torch.no_grad()
def spectral_basis(
    users: torch.Tensor, movies: torch.Tensor, n_users: int, n_movies: int, dim: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(U sqrt(S), V sqrt(S)): (n_users, dim) and (n_movies, dim) float32 rows of the top `dim`
    singular triplets of R~ over the (user, movie) pairs given (a pair listed twice counts once).
    Columns past the matrix's rank are zero; users and movies without pairs get zero rows."""
    users, movies = users.cpu().long(), movies.cpu().long()
    u, m = unique_pairs(users, movies, n_movies)  # R~'s CSR order
    deg_u = torch.bincount(u, minlength=n_users).float().clamp(min=1.0)
    deg_m = torch.bincount(m, minlength=n_movies).float().clamp(min=1.0)
    values = (deg_u[u] * deg_m[m]).rsqrt()
    rank = min(dim, n_users, n_movies)
    user_rows = torch.zeros(n_users, dim)
    movie_rows = torch.zeros(n_movies, dim)
    if u.numel() == 0 or rank == 0:
        return user_rows, movie_rows
    by_movie = torch.argsort(m * n_users + u)
    left, s, right = _randomized_svd(
        _csr(u, m, values, n_users, n_movies),
        _csr(m[by_movie], u[by_movie], values[by_movie], n_movies, n_users),
        rank,
    )
    root = s.clamp(min=0.0).sqrt()
    # A singular vector's sign is arbitrary; fix it (largest entry of each right vector
    # positive) so the start does not depend on the solver's rounding.
    sign = torch.sign(right.gather(0, right.abs().argmax(0, keepdim=True))).squeeze(0)
    sign[sign == 0] = 1.0
    user_rows[:, :rank] = left * root * sign
    movie_rows[:, :rank] = right * root * sign
    return user_rows, movie_rows


def _csr(
    rows: torch.Tensor, cols: torch.Tensor, values: torch.Tensor, n_rows: int, n_cols: int
) -> torch.Tensor:
    """The CSR matrix of entries already sorted by (row, column)."""
    crow = torch.zeros(n_rows + 1, dtype=torch.long)
    crow[1:] = torch.cumsum(torch.bincount(rows, minlength=n_rows), 0)
    return torch.sparse_csr_tensor(crow, cols, values, (n_rows, n_cols), check_invariants=False)


def _randomized_svd(
    a: torch.Tensor, a_t: torch.Tensor, rank: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Top `rank` singular triplets of the sparse matrix a (a_t: its transpose, also CSR) by
    randomized subspace iteration (Halko, Martinsson and Tropp 2011, algorithm 4.4), as
    torch.svd_lowrank computes them but with CSR products in both directions: at 25M ratings
    its COO products took 44 s, these a few."""
    n_rows, n_cols = a.shape
    q = min(rank + OVERSAMPLE, n_rows, n_cols)
    gen = torch.Generator().manual_seed(SVD_SEED)
    basis = torch.linalg.qr(a @ torch.randn(n_cols, q, generator=gen)).Q
    for _ in range(POWER_ITERATIONS):
        basis = torch.linalg.qr(a_t @ basis).Q
        basis = torch.linalg.qr(a @ basis).Q
    small = (a_t @ basis).T  # (q, n_cols): a projected on the basis
    u_small, s, vh = torch.linalg.svd(small, full_matrices=False)
    return (basis @ u_small)[:, :rank], s[:rank], vh[:rank].T
