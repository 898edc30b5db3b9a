"""A run's mart rows as Parquet in its folder, before anything reaches the warehouse: every
user's top-K and least-relevant lists (scored shard by shard of users, so the shards can run as
separate tasks, in this process or on a cluster) and the decoder as tables.

Imports no Prefect and no DuckDB: the heavy half of publishing runs wherever the model runs.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from reelgraph.core.conventions import RELEVANT_RATING
from reelgraph.core.folders import folder_for
from reelgraph.graph.ratings import SHARD_USERS, RatingGraph, UserItems, user_shards
from reelgraph.model import decoder
from reelgraph.model.scoring import Scorer

LIKED = RELEVANT_RATING  # a rating at least this makes a movie an explanation candidate
SHARDS_DIR = "shards"  # a run folder's per-shard list files, until combine_lists joins them


def recommendation_frames(
    scorer: Scorer, k: int, users: range | None = None
) -> tuple[pa.Table, pa.Table]:
    """Top-K and least-relevant K of each user (a range of user indices; None: every user),
    with scores, predicted ratings and explanations."""
    g = scorer.graph
    users = range(g.n_users) if users is None else users
    # Explanations live in the ranking space, the one the list comes from (and `similar`).
    y = ranking_unit_rows(scorer)
    liked = g.user_items(min_rating=LIKED)  # once per graph, not per shard
    users = np.arange(users.start, users.stop)
    out = []
    for least in (False, True):
        cols: dict[str, list[np.ndarray]] = {
            c: [] for c in ("user_id", "rank", "movie_id", "score", "predicted_rating", "because")
        }
        for top in scorer.top_k(users, k, least=least):
            b, kk = top.movies.shape
            cols["user_id"].append(np.repeat(g.user_ids.numpy()[top.users], kk))
            cols["rank"].append(np.tile(np.arange(1, kk + 1), b))
            cols["movie_id"].append(g.movie_ids.numpy()[top.movies].ravel())
            cols["score"].append(top.scores.ravel())
            cols["predicted_rating"].append(top.ratings.ravel())
            cols["because"].append(explanations(top.users, top.movies, liked, y).ravel())
        arrays = {c: np.concatenate(v) for c, v in cols.items()}
        because = arrays.pop("because")
        because_ids = np.where(because >= 0, g.movie_ids.numpy()[np.maximum(because, 0)], -1)
        out.append(
            pa.table(
                {
                    "user_id": arrays["user_id"].astype(np.int32),
                    "rank": arrays["rank"].astype(np.int32),
                    "movie_id": arrays["movie_id"].astype(np.int32),
                    "score": arrays["score"].astype(np.float32),
                    "predicted_rating": arrays["predicted_rating"].astype(np.float32),
                    # NULL: the user rated nothing highly.
                    "because_movie_id": pa.array(
                        because_ids.astype(np.int32), mask=because_ids < 0
                    ),
                }
            )
        )
    return out[0], out[1]


def explanations(
    users: np.ndarray, movies: np.ndarray, liked: UserItems, unit: np.ndarray
) -> np.ndarray:
    """(b, k) for each listed movie the user's highly rated movie most similar to it
    (reelgraph.model.decoder.explanations), -1 when the user rated nothing highly."""
    return (
        np.stack(
            [
                decoder.explanations(movies[row], liked.of(user), unit)
                for row, user in enumerate(users)
            ]
        )
        if len(users)
        else np.empty(movies.shape, dtype=np.int64)
    )


def ranking_unit_rows(scorer: Scorer) -> np.ndarray:
    """The movies' ranking vectors at unit length, as the explanations and `similar` read them."""
    return decoder.unit_rows(scorer.enc.y_movie.float().cpu().numpy())


def _lists(vectors: np.ndarray) -> pa.ListArray:
    flat = pa.array(vectors.astype(np.float32).ravel())
    offsets = pa.array(np.arange(0, vectors.size + 1, vectors.shape[1], dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, flat)


def embedding_frames(scorer: Scorer) -> tuple[pa.Table, pa.Table]:
    """The complete decoder as tables, so SQL can score any (user, movie) exactly as the model does."""
    e, g = scorer.enc, scorer.graph
    n = lambda t: t.float().cpu().numpy()  # noqa: E731
    users = pa.table(
        {
            "user_id": g.user_ids.numpy().astype(np.int32),
            "embedding": _lists(n(e.y_user)),
            "rating_embedding": _lists(n(e.z_user)),
            "rating_bias": n(e.b_user),
            "global_mean": np.full(g.n_users, scorer.model.cfg.global_mean, dtype=np.float32),
        }
    )
    movies = pa.table(
        {
            "movie_id": g.movie_ids.numpy().astype(np.int32),
            "embedding": _lists(n(e.y_movie)),
            "bias": n(e.c_movie),
            "rating_embedding": _lists(n(e.z_movie)),
            "rating_bias": n(e.b_movie),
        }
    )
    return users, movies


MART_FILES = {
    "recommendations": "recommendations.parquet",
    "least_relevant": "least_relevant.parquet",
    "user_embeddings": "user_embeddings.parquet",
    "movie_embeddings": "movie_embeddings.parquet",
}


@dataclasses.dataclass(frozen=True)
class PreparedRun:
    """A run's mart rows, written as Parquet in its folder, not yet in the warehouse."""

    run_dir: str
    recommendations: int
    least_relevant: int
    users: int


def prepare_run(
    graph: RatingGraph,
    model_path: str | Path,
    run_dir: str | Path,
    k: int = 20,
    device: str = "auto",
    shard_users: int = SHARD_USERS,
) -> PreparedRun:
    """Score every user and write the mart rows to the run's folder (all the heavy work; the
    warehouse is not opened), shard after shard in this process: what the publish flow's
    tasks do, in the same order, wherever they run."""
    check_k(k)
    scorer = Scorer.load(model_path, graph, device)
    shards = user_shards(graph.n_users, shard_users)
    rows = [write_lists(scorer, run_dir, k, i, users) for i, users in enumerate(shards)]
    write_embeddings(scorer, run_dir)
    return combine_lists(run_dir, rows, graph.n_users)


def check_k(k: int) -> None:
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")


def _write(frame: pa.Table, path: Path) -> None:
    """Whole or not at all: a reader never finds half a file."""
    folder_for(path, create=True)
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(frame, tmp)
    tmp.replace(path)


def _shard_file(run_dir: str | Path, table: str, index: int) -> Path:
    return Path(run_dir) / SHARDS_DIR / f"{table}-{index:05d}.parquet"


def write_lists(scorer: Scorer, run_dir: str | Path, k: int, index: int, users: range) -> int:
    """One user shard's top-K and least-relevant rows as Parquet in the run's shard folder;
    returns the rows of each list written."""
    recs, least = recommendation_frames(scorer, k, users)
    _write(recs, _shard_file(run_dir, "recommendations", index))
    _write(least, _shard_file(run_dir, "least_relevant", index))
    return recs.num_rows


def write_embeddings(scorer: Scorer, run_dir: str | Path) -> None:
    users, movies = embedding_frames(scorer)
    _write(users, Path(run_dir) / MART_FILES["user_embeddings"])
    _write(movies, Path(run_dir) / MART_FILES["movie_embeddings"])


def combine_lists(run_dir: str | Path, shard_rows: list[int], n_users: int) -> PreparedRun:
    """The shards' rows, in shard order, as the run's one recommendations.parquet and
    least_relevant.parquet (one shard in memory at a time); the shard files are removed."""
    run_dir = Path(run_dir)
    for table in ("recommendations", "least_relevant"):
        parts = [_shard_file(run_dir, table, i) for i in range(len(shard_rows))]
        tmp = run_dir / (MART_FILES[table] + ".tmp")
        with pq.ParquetWriter(tmp, pq.read_schema(parts[0])) as writer:
            for part in parts:
                writer.write_table(pq.read_table(part))
        tmp.replace(run_dir / MART_FILES[table])
    shutil.rmtree(run_dir / SHARDS_DIR, ignore_errors=True)
    rows = sum(shard_rows)
    return PreparedRun(str(run_dir), rows, rows, n_users)


def without_users(prepared: PreparedRun, user_ids: np.ndarray) -> PreparedRun:
    """The prepared run less every row of the given users (a refresh: users whose ratings are
    all gone from the export get no list and no published vector)."""
    if user_ids.size == 0:
        return prepared
    run_dir = Path(prepared.run_dir)
    gone = pa.array(np.asarray(user_ids, dtype=np.int32))
    rows = {}
    for table in ("recommendations", "least_relevant", "user_embeddings"):
        path = run_dir / MART_FILES[table]
        frame = pq.read_table(path)
        kept = frame.filter(pc.invert(pc.is_in(frame["user_id"], value_set=gone)))
        _write(kept, path)
        rows[table] = kept.num_rows
    return dataclasses.replace(
        prepared,
        recommendations=rows["recommendations"],
        least_relevant=rows["least_relevant"],
        users=rows["user_embeddings"],
    )
