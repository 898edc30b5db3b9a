"""The read API the CLI and the web explorer share: read-only, parameterised, validated.

Every mistake a person can make (unknown user, movie, genre or run; a bad year range) raises
ReadError with one line that says what was wrong and what to do instead.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from pathlib import Path

import duckdb
import numpy as np

from reelgraph.core.conventions import NO_GENRES, RELEVANT_RATING
from reelgraph.core.errors import ReadError, first_line
from reelgraph.core.runs import KEPT_STATUSES
from reelgraph.model import decoder
from warehouse.connection import connect, fetch_one, sql_text
from warehouse.run_vectors import RunMatrix, run_matrix


@dataclasses.dataclass(frozen=True)
class RecommendQuery:
    user_id: int
    genres: tuple[str, ...] = ()
    year_from: int | None = None
    year_to: int | None = None
    min_score: float | None = None
    k: int = 10
    least: bool = False
    run_id: str | None = None

    def __post_init__(self) -> None:
        if self.min_score is not None and not math.isfinite(self.min_score):
            raise ReadError(f"min score {self.min_score} is not a number; give one, e.g. 0.5")


def parse_genres(text: str | None) -> tuple[str, ...]:
    """'Comedy, Drama' -> ('Comedy', 'Drama'); None -> () (every genre). Given but naming no
    genre ('' or ',') is refused: it would read as "no filter"."""
    if text is None:
        return ()
    genres = tuple(g.strip() for g in text.split(",") if g.strip())
    if not genres:
        raise ReadError(
            f"genres {text!r} names no genre: give one or more, e.g. Comedy,Drama (leave the "
            "filter out for every genre)"
        )
    return genres


def _top_k(key: np.ndarray, ids: np.ndarray, k: int) -> np.ndarray:
    """Positions of the k smallest keys, ties to the smaller id, in order. A partition finds the
    k-th key first, so only the few candidates at or below it are sorted (a full lexsort of a
    62k-movie catalogue took 6 ms of a 20 ms request)."""
    if key.size > k:
        kth = np.partition(key, k - 1)[k - 1]
        head = np.flatnonzero(key <= kth)
    else:
        head = np.arange(key.size)
    return head[np.lexsort((ids[head], key[head]))[:k]]


def parse_years(text: str | None) -> tuple[int | None, int | None]:
    """'1990:2010', '1990:' or ':2010' -> (from, to); None -> (None, None)."""
    if not text:
        return None, None
    m = re.fullmatch(r"\s*(\d{4})?\s*:\s*(\d{4})?\s*", text)
    if not m or (m.group(1) is None and m.group(2) is None):
        raise ReadError(
            f"bad year range {text!r}: use FROM:TO with 4-digit years, e.g. 1990:2010 (either side may be empty)"
        )
    lo, hi = (int(g) if g else None for g in m.groups())
    if lo is not None and hi is not None and lo > hi:
        raise ReadError(f"bad year range {text!r}: {lo} is after {hi}")
    return lo, hi


# Statement kinds `reelgraph sql` runs: those that only read (DESCRIBE/SHOW/SUMMARIZE are SELECTs).
READ_STATEMENTS = frozenset({duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN})


# The ops.runs columns every reader query needs: a table of that name without them is another
# application's (a DuckDB file of its own that happens to have an ops schema).
RUNS_COLUMNS = frozenset(
    {"run_id", "dataset", "status", "split_id", "device", "seed", "started_at", "finished_at"}
)


class Reader:
    """A read-only session on the warehouse: its own short-lived connection, or `con` (a
    cursor of a server's SharedReadConnection), which stays its lender's to close."""

    def __init__(
        self,
        warehouse: str | Path,
        timeout_s: float = 30.0,
        con: duckdb.DuckDBPyConnection | None = None,
    ) -> None:
        self.warehouse = Path(warehouse)
        self._owns_connection = con is None
        self.con = (
            con if con is not None else connect(warehouse, read_only=True, timeout_s=timeout_s)
        )

    def close(self) -> None:
        if self._owns_connection:
            self.con.close()

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ runs and metrics

    def _has_runs(self) -> bool:
        """Whether ops.runs exists; refused when it is another application's table."""
        if not self._has_table("ops", "runs"):
            return False
        columns = {
            c
            for (c,) in self.con.execute(
                "SELECT column_name FROM duckdb_columns() "
                "WHERE schema_name = 'ops' AND table_name = 'runs'"
            ).fetchall()
        }
        # Published before refreshes existed (and not since): no run of it is a refresh.
        self._refresh_of = "r.refresh_of" if "refresh_of" in columns else "NULL"
        self._gate = "r.gate" if "gate" in columns else "NULL"  # published before the gate
        missing = sorted(RUNS_COLUMNS - columns)
        if missing:
            raise ReadError(
                f"{self.warehouse} is not a reelgraph warehouse (its ops.runs has no "
                f"{', '.join(missing)}); pass the right --warehouse"
            )
        return True

    def resolve_run(self, run_id: str | None) -> str:
        if not self._has_runs():
            raise ReadError("no published run in this warehouse yet; run `reelgraph run` first")
        if run_id:
            row = fetch_one(self.con, "SELECT status FROM ops.runs WHERE run_id = ?", [run_id])
            if row is None:
                raise ReadError(
                    f"unknown run {run_id!r}; `reelgraph runs` lists the published ones"
                )
            if row[0] not in KEPT_STATUSES:
                raise ReadError(
                    f"run {run_id!r} is {row[0]}: its rows are gone; `reelgraph runs` lists the published ones"
                )
            return run_id
        row = fetch_one(
            self.con,
            "SELECT l.run_id FROM ops.latest l JOIN ops.runs r USING (run_id) ORDER BY r.finished_at DESC LIMIT 1",
        )
        if row is None:
            raise ReadError("no published run in this warehouse yet; run `reelgraph run` first")
        return row[0]

    def runs(self) -> list[dict]:
        if not self._has_runs():
            return []
        rows = self._dicts(
            f"""SELECT r.run_id, r.dataset, r.status, r.split_id, r.device, r.seed, r.code_version,
                      r.started_at, r.finished_at, l.run_id IS NOT NULL AS latest,
                      (SELECT value FROM marts.metrics m WHERE m.run_id = r.run_id AND m.model = 'graphsage'
                         AND m.split = 'test' AND m.metric = 'rmse') AS test_rmse,
                      (SELECT value FROM marts.metrics m WHERE m.run_id = r.run_id AND m.model = 'graphsage'
                         AND m.split = 'test' AND m.metric = 'recall' AND m.k = 20) AS test_recall_at_20,
                      -- a refresh re-scores with its base run's model: the metrics are that run's
                      coalesce({self._refresh_of}, r.run_id) AS metrics_of,
                      {self._gate} AS gate
               FROM ops.runs r LEFT JOIN ops.latest l USING (run_id) ORDER BY r.started_at DESC"""
        )
        for row in rows:  # the publish gate's verdict, as the JSON object it was stored as
            row["gate"] = json.loads(row["gate"]) if row["gate"] else None
        return rows

    def latest_run(self, dataset: str) -> tuple[str, int] | None:
        """(run_id, seed) of the dataset's published latest run; None when it has none yet."""
        if not (self._has_runs() and self._has_table("ops", "latest")):
            return None
        return fetch_one(
            self.con,
            "SELECT r.run_id, r.seed FROM ops.latest l JOIN ops.runs r USING (run_id) "
            "WHERE l.dataset = ?",
            [dataset],
        )

    def run_record(self, run_id: str | None = None) -> dict:
        """A published run's ops.runs row (None: the latest run's)."""
        run = self.resolve_run(run_id)
        return self._dicts("SELECT * FROM ops.runs WHERE run_id = ?", [run])[0]

    def metrics(self, run_id: str | None = None) -> list[dict]:
        run = self.resolve_run(run_id)
        return self._dicts(
            f"""SELECT m.run_id, m.model, m.split, m.metric, m.k, m.value,
                      coalesce({self._refresh_of}, m.run_id) AS metrics_of
               FROM marts.metrics m LEFT JOIN ops.runs r USING (run_id)
               WHERE m.run_id = ? ORDER BY m.model, m.split, m.metric, m.k""",
            [run],
        )

    # ------------------------------------------------------------------ recommendations

    def genres(self) -> list[str]:
        rows = self.con.execute(
            "SELECT DISTINCT unnest(string_split(genres, '|')) AS g FROM raw.movies ORDER BY g"
        ).fetchall()
        return [r[0] for r in rows if r[0] != NO_GENRES]

    def year_range(self) -> tuple[int | None, int | None]:
        """The first and last release year in the catalogue (titles without a year ignored)."""
        row = self.con.execute(
            "SELECT min(movie_year(title)), max(movie_year(title)) FROM raw.movies"
        ).fetchone()
        return (row[0], row[1]) if row else (None, None)

    def recommend(self, q: RecommendQuery) -> list[dict]:
        if q.k < 1 or q.k > 1000:
            raise ReadError(f"--k must be between 1 and 1000, got {q.k}")
        run = self.resolve_run(q.run_id)
        user = fetch_one(
            self.con,
            "SELECT embedding, rating_embedding, rating_bias, global_mean FROM marts.user_embeddings WHERE run_id = ? AND user_id = ?",
            [run, q.user_id],
        )
        if user is None:
            lo, hi = fetch_one(
                self.con,
                "SELECT min(user_id), max(user_id) FROM marts.user_embeddings WHERE run_id = ?",
                [run],
            )
            raise ReadError(
                f"unknown user {q.user_id} in run {run}; users run from {lo} to {hi} (not all ids exist)"
            )
        mat = run_matrix(self.con, self.warehouse, run)
        known = set(mat.genres) - {NO_GENRES}
        wrong = [g for g in q.genres if g not in known]
        if wrong:
            raise ReadError(
                f"unknown genre(s) {', '.join(wrong)}; known genres: {', '.join(sorted(known))}"
            )
        if q.year_from is not None and q.year_to is not None and q.year_from > q.year_to:
            raise ReadError(f"bad year range {q.year_from}:{q.year_to}: the start is after the end")
        return self._score_catalogue(run, mat, user, q)

    def _score_catalogue(
        self, run: str, mat: RunMatrix, user: tuple, q: RecommendQuery
    ) -> list[dict]:
        """The whole catalogue scored from the published vectors by the model's own decoder
        (reelgraph.model.decoder): score = <y_u, y_m> + c_m; predicted rating = global_mean + b_u +
        b_m + <z_u, z_m> in [0.5, 5]. The most relevant movies are those of highest score; the
        least relevant those of lowest predicted rating (as publishing ranks them). A movie the user rated
        (in any part of the run's split; every rating for a refresh run) is never a candidate;
        the explanation is their movie rated >= 4 closest to the pick (cosine of ranking
        vectors). Ties go to the smaller movie id."""
        y_u, z_u, b_u, mu = user
        seen = self.con.execute(
            sql_text("marts", "seen_by_model.sql"),
            {"split_id": mat.split_id, "refresh": mat.refresh, "user_id": q.user_id},
        ).fetchall()
        seen_ids = np.array([m for m, _ in seen], dtype=np.int64)
        liked_ids = np.array([m for m, r in seen if r >= RELEVANT_RATING], dtype=np.int64)
        score = decoder.ranking_scores(np.asarray(y_u, dtype=np.float32), mat.y, mat.c)
        rating = decoder.clamp_rating(
            decoder.rating_scores(np.asarray(z_u, dtype=np.float32), b_u, mat.z, mat.b, mu)
        )
        ok = np.ones(mat.movie_ids.size, dtype=bool)
        ok[mat.positions(seen_ids)] = False
        if q.genres:
            ok &= mat.genre_member[:, [mat.genres.index(g) for g in q.genres]].any(axis=1)
        with np.errstate(invalid="ignore"):  # NaN years never pass a year filter, as in SQL
            if q.year_from is not None:
                ok &= mat.year >= q.year_from
            if q.year_to is not None:
                ok &= mat.year <= q.year_to
        if q.min_score is not None:
            ok &= score >= q.min_score
        cand = np.flatnonzero(ok)
        key = rating[cand] if q.least else -score[cand]
        picks = cand[_top_k(key, mat.movie_ids[cand], q.k)]
        liked = mat.positions(liked_ids)
        because = decoder.explanations(picks, liked, mat.y_unit) if picks.size else picks
        out = []
        for i, p in enumerate(picks):
            bp = None if because[i] < 0 else int(because[i])
            out.append(
                {
                    "rank": i + 1,
                    "movie_id": int(mat.movie_ids[p]),
                    "title": mat.titles[p],
                    "year": None if np.isnan(mat.year[p]) else int(mat.year[p]),
                    "genres": mat.genre_text[p],
                    "score": float(score[p]),
                    "predicted_rating": float(rating[p]),
                    "because_movie_id": None if bp is None else int(mat.movie_ids[bp]),
                    "because_title": None if bp is None else mat.titles[bp],
                }
            )
        return out

    def similar(self, movie_id: int, k: int = 10, run_id: str | None = None) -> list[dict]:
        if k < 1 or k > 1000:
            raise ReadError(f"--k must be between 1 and 1000, got {k}")
        run = self.resolve_run(run_id)
        if (
            fetch_one(
                self.con,
                "SELECT 1 FROM marts.movie_embeddings WHERE run_id = ? AND movie_id = ?",
                [run, movie_id],
            )
            is None
        ):
            raise ReadError(
                f"unknown movie {movie_id} in run {run}; find ids with: reelgraph sql \"SELECT movie_id, title FROM raw.movies WHERE title ILIKE '%matrix%'\""
            )
        return self._dicts(
            """WITH me AS (SELECT embedding FROM marts.movie_embeddings WHERE run_id = $run AND movie_id = $movie)
               SELECT e.movie_id, m.title, m.genres, movie_year(m.title) AS year,
                      list_cosine_similarity(e.embedding, me.embedding) AS similarity
               FROM marts.movie_embeddings e CROSS JOIN me JOIN raw.movies m USING (movie_id)
               WHERE e.run_id = $run AND e.movie_id <> $movie
               ORDER BY similarity DESC, e.movie_id LIMIT $k""",
            {"run": run, "movie": movie_id, "k": k},
        )

    def movie(self, movie_id: int) -> dict | None:
        rows = self._dicts(
            "SELECT movie_id, title, genres, movie_year(title) AS year FROM raw.movies WHERE movie_id = ?",
            [movie_id],
        )
        return rows[0] if rows else None

    def sql(self, query: str, limit: int = 1000) -> tuple[list[str], list[tuple]]:
        """One read-only statement (SELECT, its DESCRIBE/SHOW/SUMMARIZE forms, or EXPLAIN) on
        the warehouse and nothing else: DuckDB's own guards are set before the query runs
        (no file, network or extension access; configuration locked), so COPY TO, EXPORT,
        ATTACH, read_csv('/etc/...'), INSTALL and SET are refused even if the check of
        statement types below missed one."""
        if limit < 0:
            raise ReadError(f"--limit must be 0 or more, got {limit}")
        try:
            statements = self.con.extract_statements(query)
        except duckdb.Error as exc:
            raise ReadError(f"query failed: {first_line(exc)}") from exc
        if len(statements) != 1:
            raise ReadError(f"give exactly one SQL statement, got {len(statements)}")
        kind = statements[0].type
        if kind not in READ_STATEMENTS:
            raise ReadError(
                f"refused a {kind.name} statement: `reelgraph sql` only reads "
                f"(SELECT, DESCRIBE, SHOW, SUMMARIZE, EXPLAIN); writes go through the flows"
            )
        if not self._owns_connection:  # the guards would outlive this query on a lent one
            raise ReadError("free-form SQL needs a Reader that owns its connection")
        try:
            self.con.execute("SET enable_external_access = false")
            self.con.execute("SET lock_configuration = true")
            cur = self.con.execute(statements[0].query)
            cols = [d[0] for d in cur.description] if cur.description else []
            return cols, cur.fetchmany(limit)
        except duckdb.Error as exc:
            raise ReadError(f"query failed: {first_line(exc)}") from exc

    # ------------------------------------------------------------------ helpers

    def _has_table(self, schema: str, table: str) -> bool:
        return (
            fetch_one(
                self.con,
                "SELECT 1 FROM duckdb_tables() WHERE schema_name = ? AND table_name = ?",
                [schema, table],
            )
            is not None
        )

    def _dicts(self, query: str, params: object = None) -> list[dict]:
        cur = self.con.execute(query, params) if params is not None else self.con.execute(query)
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]
