"""Train / validation / test splits of raw.ratings, stored in staging.* under a split_id.

Every protocol assigns parts from (user, movie, timestamp) and a seed alone, never from the
rating value, so changing a held-out rating cannot move any rating between parts.

- random:        each rating independently, seeded (default 0.8 / 0.1 / 0.1);
- temporal:      one global time cut: the latest ratings form validation, then test;
- user_subgraph: the reference report's protocol: sample N users, keep their ratings (and so the
                 movies they rated), then split those at random.

Users or movies seen only in validation/test (cold start) stay there, flagged: the model scores
them from their features alone, and `staging.splits` counts them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa

from reelgraph.core.errors import ReelgraphError
from warehouse import connect, create_tables, run_sql_file
from warehouse.connection import fetch_one, transaction

log = logging.getLogger(__name__)

Protocol = Literal["random", "temporal", "user_subgraph"]
PROTOCOLS: tuple[str, ...] = ("random", "temporal", "user_subgraph")
SPLIT_CODE_VERSION = "1"  # bump when the assignment logic changes: old split ids then differ


class SplitError(ReelgraphError):
    pass


@dataclasses.dataclass(frozen=True)
class SplitParams:
    protocol: Protocol = "random"
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    seed: int = 0
    n_users: int | None = (
        None  # user_subgraph only: how many users to sample (the report used 10,000)
    )

    def validate(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise SplitError(
                f"split protocol {self.protocol!r} is not one of {', '.join(PROTOCOLS)}"
            )
        for name in ("val_fraction", "test_fraction"):
            v = getattr(self, name)
            if not 0.0 <= v < 1.0:
                raise SplitError(f"{name} must be in [0, 1), got {v}")
        if self.val_fraction + self.test_fraction >= 1.0:
            raise SplitError(
                f"val_fraction + test_fraction must leave some training data, got {self.val_fraction + self.test_fraction}"
            )
        if self.protocol == "user_subgraph" and (self.n_users is None or self.n_users <= 0):
            raise SplitError(
                "the user_subgraph protocol needs n_users > 0 (the reference report sampled 10000)"
            )

    def split_id(self, data_checksum: str) -> str:
        payload = json.dumps(
            {**dataclasses.asdict(self), "data": data_checksum, "code": SPLIT_CODE_VERSION},
            sort_keys=True,
        )
        return f"{self.protocol}-{hashlib.sha256(payload.encode()).hexdigest()[:12]}"


@dataclasses.dataclass(frozen=True)
class SplitResult:
    split_id: str
    data_checksum: str
    counts: dict[str, int]
    reused: bool = False


def make_split(warehouse: str | Path, params: SplitParams, force: bool = False) -> SplitResult:
    """Write staging.split_ratings and a staging.splits row for these parameters (idempotent)."""
    params.validate()
    con = connect(warehouse)
    try:
        create_tables(con, "staging")
        checksum = _current_checksum(con)
        split_id = params.split_id(checksum)
        if not force:
            row = fetch_one(con, "SELECT counts FROM staging.splits WHERE split_id = ?", [split_id])
            if row is not None:
                log.info("split %s already exists; reusing it", split_id)
                return SplitResult(split_id, checksum, json.loads(row[0]), reused=True)

        ratings = con.execute(
            "SELECT user_id, movie_id, ts FROM raw.ratings ORDER BY user_id, movie_id"
        ).fetchnumpy()
        part = assign_parts(ratings["user_id"], ratings["movie_id"], ratings["ts"], params)
        keep = part >= 0
        frame = pa.table(
            {
                "user_id": ratings["user_id"][keep],
                "movie_id": ratings["movie_id"][keep],
                "part_code": pa.array(part[keep], type=pa.int8()),
            }
        )
        del ratings
        with transaction(con):
            con.execute("DELETE FROM staging.split_ratings WHERE split_id = ?", [split_id])
            con.execute("DELETE FROM staging.splits WHERE split_id = ?", [split_id])
            con.register("assigned", frame)
            run_sql_file(con, "staging", "insert_split_ratings.sql", split_id=split_id)
            con.unregister("assigned")
            counts = _counts(con, split_id)
            con.execute(
                "INSERT INTO staging.splits VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    split_id,
                    checksum,
                    params.protocol,
                    json.dumps(dataclasses.asdict(params)),
                    params.seed,
                    json.dumps(counts),
                    dt.datetime.now(dt.UTC).replace(tzinfo=None),
                ],
            )
        log.info("split %s: %s", split_id, counts)
        return SplitResult(split_id, checksum, counts)
    finally:
        con.close()


def assign_parts(
    users: np.ndarray, movies: np.ndarray, ts: np.ndarray, params: SplitParams
) -> np.ndarray:
    """Part per rating: 0 train, 1 val, 2 test, -1 left out (user_subgraph). Rows come in
    (user_id, movie_id) order, which makes the assignment independent of storage order."""
    rng = np.random.default_rng(params.seed)
    n = users.size
    part = np.zeros(n, dtype=np.int8)
    if params.protocol == "temporal":
        order = np.lexsort(
            (movies, users, ts.astype("datetime64[s]").astype(np.int64))
        )  # ties by ids
        n_test = int(round(n * params.test_fraction))
        n_val = int(round(n * params.val_fraction))
        part[order[n - n_test - n_val : n - n_test]] = 1
        part[order[n - n_test :]] = 2
        return part
    if params.protocol == "user_subgraph":
        all_users = np.unique(users)
        if params.n_users > all_users.size:
            raise SplitError(
                f"n_users={params.n_users} but the data has only {all_users.size} users"
            )
        chosen = rng.choice(all_users, size=params.n_users, replace=False)
        part[~np.isin(users, chosen)] = -1
    u = rng.random(n)
    part[(part == 0) & (u >= 1 - params.val_fraction - params.test_fraction)] = 1
    part[(part == 1) & (u >= 1 - params.test_fraction)] = 2
    return part


def _current_checksum(con) -> str:  # noqa: ANN001
    row = fetch_one(
        con,
        "SELECT data_checksum FROM ops.ingests WHERE status = 'succeeded' ORDER BY ingest_id DESC LIMIT 1",
    )
    if row is None:
        raise SplitError("the warehouse holds no ingested data; run `reelgraph ingest` first")
    return row[0]


def _counts(con, split_id: str) -> dict[str, int]:  # noqa: ANN001
    row = fetch_one(
        con,
        """SELECT
             count(*) FILTER (part = 'train'), count(*) FILTER (part = 'val'), count(*) FILTER (part = 'test'),
             count(DISTINCT user_id), count(DISTINCT movie_id),
             count(DISTINCT user_id) FILTER (part = 'train'), count(DISTINCT movie_id) FILTER (part = 'train'),
             count(*) FILTER (part <> 'train' AND cold_user), count(*) FILTER (part <> 'train' AND cold_movie)
           FROM staging.split_ratings WHERE split_id = ?""",
        [split_id],
    )
    n_train, n_val, n_test, users, movies, train_users, train_movies, cold_user_r, cold_movie_r = (
        row
    )
    return {
        "train": n_train,
        "val": n_val,
        "test": n_test,
        "users": users,
        "movies": movies,
        "cold_users": users - train_users,
        "cold_movies": movies - train_movies,
        "heldout_ratings_of_cold_users": cold_user_r,
        "heldout_ratings_of_cold_movies": cold_movie_r,
    }
