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

SVD_SEED = 0  # the randomized SVD's start: a run's basis is a function of its data
POWER_ITERATIONS = 4  # subspace iterations of torch.svd_lowrank: enough for a starting point
OVERSAMPLE = 16


@torch.no_grad()
def spectral_basis(
    users: torch.Tensor, movies: torch.Tensor, n_users: int, n_movies: int, dim: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(U sqrt(S), V sqrt(S)): (n_users, dim) and (n_movies, dim) float32 rows of the top `dim`
    singular triplets of R~ over the (user, movie) pairs given (a pair listed twice counts once).
    Columns past the matrix's rank are zero; users and movies without pairs get zero rows."""
    users, movies = users.cpu().long(), movies.cpu().long()
    key = torch.unique(users * n_movies + movies)
    u, m = key // n_movies, key % n_movies
    deg_u = torch.bincount(u, minlength=n_users).double().clamp(min=1.0)
    deg_m = torch.bincount(m, minlength=n_movies).double().clamp(min=1.0)
    values = (deg_u[u] * deg_m[m]).rsqrt()
    matrix = torch.sparse_coo_tensor(
        torch.stack([u, m]), values, (n_users, n_movies), check_invariants=False
    ).coalesce()
    rank = min(dim, n_users, n_movies)
    user_rows = torch.zeros(n_users, dim)
    movie_rows = torch.zeros(n_movies, dim)
    if key.numel() == 0 or rank == 0:
        return user_rows, movie_rows
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SVD_SEED)
        # Oversampled by OVERSAMPLE columns, as randomized SVDs must be to find the top ones.
        q = min(rank + OVERSAMPLE, n_users, n_movies)
        left, s, right = torch.svd_lowrank(matrix, q=q, niter=POWER_ITERATIONS)
    left, s, right = left[:, :rank], s[:rank], right[:, :rank]
    root = s.clamp(min=0.0).sqrt()
    # A singular vector's sign is arbitrary; fix it (largest entry of each right vector
    # positive) so the start does not depend on the solver's rounding.
    sign = torch.sign(right.gather(0, right.abs().argmax(0, keepdim=True))).squeeze(0)
    sign[sign == 0] = 1.0
    user_rows[:, :rank] = (left * root * sign).float()
    movie_rows[:, :rank] = (right * root * sign).float()
    return user_rows, movie_rows
