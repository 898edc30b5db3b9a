"""What changed between two published runs of a dataset (`reelgraph diff`): each model's test
metrics side by side, how much every user's top-K moved, the movies that entered or left the
lists most, and the data each run was trained on. Plain SQL over the marts both runs keep
while retention holds them."""

from __future__ import annotations

import json

import duckdb

from reelgraph.core.errors import ReadError
from reelgraph.core.runs import KEPT_SQL, KEPT_STATUSES
from warehouse.connection import fetch_one
from warehouse.read import Reader

# The metrics compared, at every K the runs computed (RMSE has none).
METRICS = ("ndcg", "recall", "precision", "coverage", "rmse")


def previous_run(con: duckdb.DuckDBPyConnection, run_id: str) -> str:
    """The published (or held) run of the same dataset that finished last before run_id."""
    row = fetch_one(
        con,
        f"""SELECT p.run_id FROM ops.runs p JOIN ops.runs r ON p.dataset = r.dataset
           WHERE r.run_id = ? AND p.{KEPT_SQL}
             AND p.finished_at < r.finished_at
           ORDER BY p.finished_at DESC LIMIT 1""",
        [run_id],
    )
    if row is None:
        raise ReadError(f"run {run_id} has no published run before it to compare with")
    return row[0]


def runs_to_compare(reader: Reader, a: str | None, b: str | None) -> tuple[str, str]:
    """(a, b) as `reelgraph diff` and the explorer read them: b defaults to the latest run, a to
    the run before b; either named must still be kept."""
    newer = reader.resolve_run(b)
    return (reader.resolve_run(a) if a else previous_run(reader.con, newer)), newer


def kept(con: duckdb.DuckDBPyConnection, run_id: str) -> bool:
    """Whether the run's marts rows are still there (published or held, not pruned)."""
    row = fetch_one(con, "SELECT status FROM ops.runs WHERE run_id = ?", [run_id])
    return row is not None and row[0] in KEPT_STATUSES


def run_diff(con: duckdb.DuckDBPyConnection, a: str, b: str, k: int = 10, movers: int = 5) -> dict:
    """Run a against run b (b the newer, as people read "from a to b")."""
    return {
        "run_a": a,
        "run_b": b,
        "metrics": _metrics(con, a, b),
        "lists": _lists(con, a, b, k),
        "entered": _movers(con, a, b, k, movers, entered=True),
        "left": _movers(con, a, b, k, movers, entered=False),
        "data": _data(con, a, b),
    }


def _metrics(con: duckdb.DuckDBPyConnection, a: str, b: str) -> list[dict]:
    rows = []
    for model, metric, k, va, vb in con.execute(
        """SELECT model, metric, k,
                  max(value) FILTER (WHERE run_id = $a), max(value) FILTER (WHERE run_id = $b)
           FROM marts.metrics WHERE split = 'test' AND run_id IN ($a, $b)
           GROUP BY model, metric, k ORDER BY model, metric, k""",
        {"a": a, "b": b},
    ).fetchall():
        if metric not in METRICS:
            continue
        name = metric if k is None else f"{metric}@{k}"
        change = None if va is None or vb is None else vb - va
        rows.append({"model": model, "metric": name, "a": va, "b": vb, "change": change})
    return rows


def _lists(con: duckdb.DuckDBPyConnection, a: str, b: str, k: int) -> dict:
    """Over users with a list in both runs: the share whose top-k holds other movies, and the
    mean share of a top-k that stayed."""
    row = fetch_one(
        con,
        """WITH la AS (SELECT user_id, movie_id FROM marts.recommendations
                       WHERE run_id = $a AND rank <= $k),
                lb AS (SELECT user_id, movie_id FROM marts.recommendations
                       WHERE run_id = $b AND rank <= $k),
                both_users AS (SELECT DISTINCT user_id FROM la
                               INTERSECT SELECT DISTINCT user_id FROM lb),
                kept AS (SELECT u.user_id, count(lb.movie_id) AS kept, count(la.movie_id) AS size
                         FROM both_users u
                         LEFT JOIN la ON la.user_id = u.user_id
                         LEFT JOIN lb ON lb.user_id = u.user_id AND lb.movie_id = la.movie_id
                         GROUP BY u.user_id)
           SELECT count(*), avg(CASE WHEN kept < size THEN 1.0 ELSE 0.0 END),
                  avg(kept / greatest(size, 1))
           FROM kept""",
        {"a": a, "b": b, "k": k},
    )
    users, changed, overlap = row if row else (0, None, None)
    return {"k": k, "users_in_both": users, "share_changed": changed, "mean_overlap": overlap}


def _movers(
    con: duckdb.DuckDBPyConnection, a: str, b: str, k: int, n: int, entered: bool
) -> list[dict]:
    """The movies whose count of top-k appearances grew (entered) or fell (left) the most."""
    order = "DESC" if entered else "ASC"
    return [
        {"movie_id": m, "title": t, "lists_a": ca, "lists_b": cb, "change": cb - ca}
        for m, t, ca, cb in con.execute(
            f"""WITH c AS (SELECT movie_id,
                                  count(*) FILTER (WHERE run_id = $a) AS ca,
                                  count(*) FILTER (WHERE run_id = $b) AS cb
                           FROM marts.recommendations
                           WHERE run_id IN ($a, $b) AND rank <= $k GROUP BY movie_id)
                SELECT c.movie_id, m.title, c.ca, c.cb FROM c
                LEFT JOIN raw.movies m ON m.movie_id = c.movie_id
                WHERE c.cb {">" if entered else "<"} c.ca
                ORDER BY c.cb - c.ca {order}, c.movie_id LIMIT $n""",
            {"a": a, "b": b, "k": k, "n": n},
        ).fetchall()
    ]


def _data(con: duckdb.DuckDBPyConnection, a: str, b: str) -> dict:
    """Ratings each run's ingest loaded; users and movies each run published vectors for."""
    out = {}
    for side, run in (("a", a), ("b", b)):
        counts = fetch_one(
            con,
            """SELECT i.row_counts FROM ops.runs r JOIN ops.ingests i
                 ON i.data_checksum = r.data_checksum AND i.status = 'succeeded'
               WHERE r.run_id = ? ORDER BY i.ingest_id DESC LIMIT 1""",
            [run],
        )
        ratings = json.loads(counts[0]).get("raw.ratings") if counts else None
        users = fetch_one(
            con, "SELECT count(*) FROM marts.user_embeddings WHERE run_id = ?", [run]
        )[0]
        movies = fetch_one(
            con, "SELECT count(*) FROM marts.movie_embeddings WHERE run_id = ?", [run]
        )[0]
        out[side] = {"ratings": ratings, "users": users, "movies": movies}
    out["change"] = {
        key: None
        if out["a"][key] is None or out["b"][key] is None
        else out["b"][key] - out["a"][key]
        for key in ("ratings", "users", "movies")
    }
    return out


def lists_sentence(diff: dict) -> str | None:
    lists = diff["lists"]
    if not lists["users_in_both"]:
        return None
    return (
        f"top-{lists['k']} lists of {lists['users_in_both']:,} users in both runs: "
        f"{lists['share_changed']:.1%} changed, {lists['mean_overlap']:.1%} of a list kept"
    )


def movers_sentence(diff: dict, label: str) -> str:
    """label: "entered" or "left"."""
    moved = ", ".join(f"{m['title'] or m['movie_id']} ({m['change']:+d})" for m in diff[label])
    return f"{label} the lists most: {moved or 'none'}"


def data_sentence(diff: dict) -> str:
    data = diff["data"]
    return "data: " + ", ".join(
        f"{key} {data['a'][key]} -> {data['b'][key]}" for key in ("ratings", "users", "movies")
    )


def markdown(diff: dict, title: str) -> str:
    """The diff as the `run-diff` artifact on a pipeline run's page."""
    lines = [f"# {title}", "", f"run `{diff['run_a']}` -> run `{diff['run_b']}`", ""]
    sentences = [lists_sentence(diff), *(movers_sentence(diff, x) for x in ("entered", "left"))]
    lines += [f"- {s}" for s in (*sentences, data_sentence(diff)) if s]
    lines += ["", "Test metrics of every model:", ""]
    lines += ["| model | metric | A | B | change |", "|---|---|---|---|---|"]
    for r in diff["metrics"]:
        a, b, change = (
            "—" if v is None else f"{v:{fmt}}"
            for v, fmt in ((r["a"], ".4f"), (r["b"], ".4f"), (r["change"], "+.4f"))
        )
        lines.append(f"| {r['model']} | {r['metric']} | {a} | {b} | {change} |")
    return "\n".join(lines) + "\n"
