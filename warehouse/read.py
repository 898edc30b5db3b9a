"""The read API the CLI and the web explorer share: read-only, parameterised, validated.

Every mistake a person can make (unknown user, movie, genre or run; a bad year range) raises
ReadError with one line that says what was wrong and what to do instead.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import duckdb

from reelgraph.errors import ReelgraphError
from warehouse.connection import connect, fetch_one, sql_text


class ReadError(ReelgraphError):
    pass


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


class Reader:
    """A read-only session on the warehouse (a short-lived connection per instance)."""

    def __init__(self, warehouse: str | Path, timeout_s: float = 30.0) -> None:
        self.con = connect(warehouse, read_only=True, timeout_s=timeout_s)

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ runs and metrics

    def resolve_run(self, run_id: str | None) -> str:
        if not self._has_table("ops", "runs"):
            raise ReadError("no published run in this warehouse yet; run `reelgraph run` first")
        if run_id:
            row = fetch_one(self.con, "SELECT status FROM ops.runs WHERE run_id = ?", [run_id])
            if row is None:
                raise ReadError(
                    f"unknown run {run_id!r}; `reelgraph runs` lists the published ones"
                )
            if row[0] != "published":
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
        if not self._has_table("ops", "runs"):
            return []
        return self._dicts(
            """SELECT r.run_id, r.dataset, r.status, r.split_id, r.device, r.seed, r.code_version,
                      r.started_at, r.finished_at, l.run_id IS NOT NULL AS latest,
                      (SELECT value FROM marts.metrics m WHERE m.run_id = r.run_id AND m.model = 'graphsage'
                         AND m.split = 'test' AND m.metric = 'rmse') AS test_rmse,
                      (SELECT value FROM marts.metrics m WHERE m.run_id = r.run_id AND m.model = 'graphsage'
                         AND m.split = 'test' AND m.metric = 'recall' AND m.k = 20) AS test_recall_at_20
               FROM ops.runs r LEFT JOIN ops.latest l USING (run_id) ORDER BY r.started_at DESC"""
        )

    def metrics(self, run_id: str | None = None) -> list[dict]:
        run = self.resolve_run(run_id)
        return self._dicts(
            "SELECT run_id, model, split, metric, k, value FROM marts.metrics WHERE run_id = ? ORDER BY model, split, metric, k",
            [run],
        )

    # ------------------------------------------------------------------ recommendations

    def genres(self) -> list[str]:
        rows = self.con.execute(
            "SELECT DISTINCT unnest(string_split(genres, '|')) AS g FROM raw.movies ORDER BY g"
        ).fetchall()
        return [r[0] for r in rows if r[0] != "(no genres listed)"]

    def recommend(self, q: RecommendQuery) -> list[dict]:
        if q.k < 1 or q.k > 1000:
            raise ReadError(f"--k must be between 1 and 1000, got {q.k}")
        run = self.resolve_run(q.run_id)
        if (
            fetch_one(
                self.con,
                "SELECT 1 FROM marts.user_embeddings WHERE run_id = ? AND user_id = ?",
                [run, q.user_id],
            )
            is None
        ):
            lo, hi = fetch_one(
                self.con,
                "SELECT min(user_id), max(user_id) FROM marts.user_embeddings WHERE run_id = ?",
                [run],
            )
            raise ReadError(
                f"unknown user {q.user_id} in run {run}; users run from {lo} to {hi} (not all ids exist)"
            )
        known = set(self.genres())
        wrong = [g for g in q.genres if g not in known]
        if wrong:
            raise ReadError(
                f"unknown genre(s) {', '.join(wrong)}; known genres: {', '.join(sorted(known))}"
            )
        if q.year_from is not None and q.year_to is not None and q.year_from > q.year_to:
            raise ReadError(f"bad year range {q.year_from}:{q.year_to}: the start is after the end")
        params = {
            "run_id": run,
            "user_id": q.user_id,
            "genres": list(q.genres) or None,
            "year_from": q.year_from,
            "year_to": q.year_to,
            "min_score": q.min_score,
            "k": q.k,
            "least": q.least,
        }
        return self._dicts(sql_text("marts", "recommend.sql"), params)

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
            """WITH me AS (SELECT rating_embedding FROM marts.movie_embeddings WHERE run_id = $run AND movie_id = $movie)
               SELECT e.movie_id, m.title, m.genres, raw.movie_year(m.title) AS year,
                      list_cosine_similarity(e.rating_embedding, me.rating_embedding) AS similarity
               FROM marts.movie_embeddings e CROSS JOIN me JOIN raw.movies m USING (movie_id)
               WHERE e.run_id = $run AND e.movie_id <> $movie
               ORDER BY similarity DESC, e.movie_id LIMIT $k""",
            {"run": run, "movie": movie_id, "k": k},
        )

    def movie(self, movie_id: int) -> dict | None:
        rows = self._dicts(
            "SELECT movie_id, title, genres, raw.movie_year(title) AS year FROM raw.movies WHERE movie_id = ?",
            [movie_id],
        )
        return rows[0] if rows else None

    def sql(self, query: str, limit: int = 1000) -> tuple[list[str], list[tuple]]:
        """Any read-only query (the connection itself refuses writes)."""
        try:
            cur = self.con.execute(query)
            cols = [d[0] for d in cur.description] if cur.description else []
            return cols, cur.fetchmany(limit)
        except duckdb.Error as exc:
            raise ReadError(f"query failed: {str(exc).splitlines()[0]}") from exc

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
