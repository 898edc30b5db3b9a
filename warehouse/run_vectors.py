"""A published run's decoder vectors as numpy matrices (cached per run), and the files its lists
came from: what the read API scores the catalogue with."""

from __future__ import annotations

import dataclasses
import json
import threading
from collections import OrderedDict
from pathlib import Path

import duckdb
import numpy as np

from reelgraph.core.errors import ReadError
from reelgraph.model import decoder


@dataclasses.dataclass(frozen=True)
class RunMatrix:
    """A run's published decoder and the movies' metadata, held in memory so a request scores the
    whole catalogue with one matrix-vector product instead of a table scan. A published run's rows
    never change (retention only deletes them), so it is cached by (warehouse, run id)."""

    movie_ids: np.ndarray  # (n,) sorted
    y: np.ndarray  # (n, d) ranking vectors
    c: np.ndarray  # (n,) ranking biases
    z: np.ndarray  # (n, d) rating vectors
    y_unit: np.ndarray  # ranking vectors at unit length, for explanations
    b: np.ndarray  # (n,) rating biases
    year: np.ndarray  # (n,) float, NaN when the title has no year
    genre_member: np.ndarray  # (n, len(genres)) bool: is movie i listed under genre j
    genres: tuple[str, ...]
    titles: list[str]
    genre_text: list[str]
    split_id: str  # whose train ratings the model saw ...
    refresh: bool  # ... or, for a refresh run, every rating in raw.ratings

    @staticmethod
    def load(con: duckdb.DuckDBPyConnection, run_id: str) -> RunMatrix:
        files = run_files(con, run_id)
        split_id, refresh = files.split_id, files.refresh_of is not None
        rows = con.execute(
            """SELECT e.movie_id, e.embedding, e.bias, e.rating_embedding, e.rating_bias,
                      movie_year(m.title) AS year, m.title, m.genres
               FROM marts.movie_embeddings e JOIN raw.movies m USING (movie_id)
               WHERE e.run_id = ? ORDER BY e.movie_id""",
            [run_id],
        ).fetchall()
        ids, y, c, z, b, year, titles, genre_text = (list(col) for col in zip(*rows, strict=True))
        vocab = tuple(sorted({g for gs in genre_text for g in gs.split("|")}))
        col = {g: j for j, g in enumerate(vocab)}
        member = np.zeros((len(ids), len(vocab)), dtype=bool)
        for i, gs in enumerate(genre_text):
            member[i, [col[g] for g in gs.split("|")]] = True
        y_arr = np.asarray(y, dtype=np.float32)
        return RunMatrix(
            np.asarray(ids, dtype=np.int64),
            y_arr,
            np.asarray(c, dtype=np.float32),
            np.asarray(z, dtype=np.float32),
            decoder.unit_rows(y_arr),
            np.asarray(b, dtype=np.float32),
            np.array([np.nan if v is None else v for v in year], dtype=np.float64),
            member,
            vocab,
            titles,
            genre_text,
            split_id,
            bool(refresh),
        )

    def positions(self, movie_ids: np.ndarray) -> np.ndarray:
        """Row of each movie id; ids the run does not know are dropped."""
        pos = np.searchsorted(self.movie_ids, movie_ids)
        inside = pos < self.movie_ids.size
        pos, ids = pos[inside], movie_ids[inside]
        return pos[self.movie_ids[pos] == ids]


_MATRICES: OrderedDict[tuple[str, str], RunMatrix] = OrderedDict()


_MATRICES_LOCK = threading.Lock()


_MATRICES_KEPT = 3


@dataclasses.dataclass(frozen=True)
class RunFiles:
    """Where a published run's lists came from (ops.runs)."""

    split_id: str
    graph_path: str | None
    model_path: str | None
    refresh_of: str | None


def run_files(con: duckdb.DuckDBPyConnection, run_id: str) -> RunFiles:
    """A run's graph, model and refresh base. Runs published before ops.runs had these columns
    kept them in `params` JSON: read there (a read-only reader cannot add the columns)."""
    cur = con.execute("SELECT * FROM ops.runs WHERE run_id = ?", [run_id])
    names = [d[0] for d in cur.description]
    row = cur.fetchone()
    if row is None:
        raise ReadError(f"unknown run {run_id}")
    got = dict(zip(names, row, strict=True))
    old = json.loads(got["params"])
    pick = lambda name: got.get(name) or old.get(name)  # noqa: E731
    return RunFiles(got["split_id"], pick("graph_path"), pick("model_path"), pick("refresh_of"))


def run_matrix(con: duckdb.DuckDBPyConnection, warehouse: Path, run_id: str) -> RunMatrix:
    key = (str(warehouse.resolve()), run_id)
    with _MATRICES_LOCK:
        if key in _MATRICES:
            _MATRICES.move_to_end(key)
            return _MATRICES[key]
    matrix = RunMatrix.load(con, run_id)
    with _MATRICES_LOCK:
        _MATRICES[key] = matrix
        while len(_MATRICES) > _MATRICES_KEPT:
            _MATRICES.popitem(last=False)
    return matrix
