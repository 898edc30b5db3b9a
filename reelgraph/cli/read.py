"""The command line's read-only commands: recommend, runs, metrics, report, similar, sql and
explore, over the read API (warehouse/read.py) and the explorer."""

from __future__ import annotations

import argparse
import json
import sys

from reelgraph.core import settings
from reelgraph.core.conventions import RELEVANT_RATING
from reelgraph.core.errors import CliError
from reelgraph.pipeline import preflight

# The columns each command prints, in order (--json prints every field).
LIST_COLUMNS = "rank movie_id title year genres score predicted_rating because_title".split()
RUN_COLUMNS = (
    "run_id dataset status latest device test_rmse test_recall_at_20 metrics_of gate".split()
)
RUN_COLUMNS += ["finished_at"]
METRIC_COLUMNS = "model rmse mae recall@20 ndcg@20 precision@10 map@20 hit_rate@20".split()
METRIC_COLUMNS += ["coverage@20", "novelty@20"]


def _reader(args: argparse.Namespace):  # noqa: ANN202
    from warehouse.read import Reader

    return Reader(settings.warehouse_path(args.warehouse))


def _emit(rows: list[dict], as_json: bool, columns: list[str] | None = None) -> None:
    if as_json:
        print(json.dumps(rows, indent=2, default=str))
        return
    if not rows:
        print("(no rows)")
        return
    print(format_table(rows, columns))


def format_table(rows: list[dict], columns: list[str] | None = None) -> str:
    """A plain aligned text table: numbers right-aligned, floats to 3 decimals."""
    cols = columns or list(rows[0])

    def cell(v: object) -> str:
        if v is None:
            return ""
        if isinstance(v, float):
            return f"{v:.3f}"
        return " ".join(str(v).split())  # a title with a newline or tab stays on its row

    cells = [[cell(r.get(c)) for c in cols] for r in rows]
    widths = [min(max(len(c), *(len(row[i]) for row in cells)), 60) for i, c in enumerate(cols)]
    numeric = [
        all(isinstance(r.get(c), int | float) or r.get(c) is None for r in rows) for c in cols
    ]

    def fmt(values: list[str]) -> str:
        out = []
        for v, w, num in zip(values, widths, numeric, strict=True):
            v = v if len(v) <= w else v[: w - 1] + "…"
            out.append(v.rjust(w) if num else v.ljust(w))
        return "  ".join(out).rstrip()

    return "\n".join([fmt(cols), fmt(["-" * w for w in widths]), *(fmt(r) for r in cells)])


def _cmd_recommend(args: argparse.Namespace) -> int:
    from warehouse.read import RecommendQuery, parse_genres, parse_years

    year_from, year_to = parse_years(args.years)
    genres = parse_genres(args.genres)
    q = RecommendQuery(
        user_id=args.user,
        genres=genres,
        year_from=year_from,
        year_to=year_to,
        min_score=args.min_score,
        k=args.k,
        least=args.least,
        run_id=args.run,
    )
    with _reader(args) as r:
        rows = r.recommend(q)
    if not args.json and not rows:
        print(
            "no movie matches these filters; widen --genres/--years or lower --min-score",
            file=sys.stderr,
        )
        return 0
    if not args.json and rows and all(r["because_title"] is None for r in rows):
        print(
            f"(no explanations: user {args.user} rated no movie {RELEVANT_RATING:g} stars or more)",
            file=sys.stderr,
        )
    _emit(rows, args.json, LIST_COLUMNS)
    return 0


def _cmd_runs(args: argparse.Namespace) -> int:
    with _reader(args) as r:
        rows = r.runs()
    if not args.json:  # the gate's verdict in words; --json keeps the whole object
        rows = [{**row, "gate": (row["gate"] or {}).get("reason")} for row in rows]
    _emit(rows, args.json, None if args.json else RUN_COLUMNS)
    return 0


def _cmd_metrics(args: argparse.Namespace) -> int:
    with _reader(args) as r:
        rows = r.metrics(args.run)
        run = r.resolve_run(args.run)
        base = r.run_record(run).get("refresh_of")
    if args.json:
        _emit(rows, True)
        return 0
    # One row per model, one column per metric@k: the comparison people read.
    table: dict[str, dict] = {}
    for row in rows:
        if row["split"] != "test":
            continue
        name = f"{row['metric']}@{row['k']}" if row["k"] is not None else row["metric"]
        table.setdefault(row["model"], {"model": row["model"]})[name] = row["value"]
    inherited = f" (metrics of run {base}, whose model this refresh re-scored with)" if base else ""
    print(f"run {run}: test split{inherited}")
    _emit(list(table.values()), False, METRIC_COLUMNS)
    return 0


def _cmd_diff(args: argparse.Namespace) -> int:
    from warehouse.run_diff import (
        data_sentence,
        lists_sentence,
        movers_sentence,
        run_diff,
        runs_to_compare,
    )

    if len(args.runs) > 2:
        raise CliError("diff takes at most two runs: [RUN_A] RUN_B")
    preflight.list_length(args.k)
    with _reader(args) as r:
        a, b = runs_to_compare(
            r, args.runs[0] if len(args.runs) == 2 else None, args.runs[-1] if args.runs else None
        )
        diff = run_diff(r.con, a, b, k=args.k)
    if args.json:
        print(json.dumps(diff, indent=2, default=str))
        return 0
    print(f"run {a} -> run {b}\n\ntest metrics, A -> B (change):")
    _emit(*_metrics_table(diff["metrics"]))
    lists = lists_sentence(diff)
    if lists:
        print(f"\n{lists}")
    for label in ("entered", "left"):
        print(movers_sentence(diff, label))
    print(data_sentence(diff))
    return 0


def _metrics_table(rows: list[dict]) -> tuple[list[dict], bool, list[str]]:
    """One row per model, one column per metric@K: "A -> B (change)"; best B NDCG first."""
    from warehouse.run_diff import METRICS

    table: dict[str, dict] = {}
    for r in rows:
        shown = (
            "—"
            if r["a"] is None or r["b"] is None
            else (f"{r['a']:.4f} -> {r['b']:.4f} ({r['change']:+.4f})")
        )
        table.setdefault(r["model"], {"model": r["model"]})[r["metric"]] = shown
    order = {name: i for i, name in enumerate(METRICS)}
    columns = sorted(
        {r["metric"] for r in rows},
        key=lambda m: (order[m.split("@")[0]], int(m.split("@")[1]) if "@" in m else 0),
    )
    first = columns[0] if columns else None  # NDCG at its smallest K
    ndcg = {r["model"]: r["b"] or 0.0 for r in rows if r["metric"] == first}
    ordered = sorted(table.values(), key=lambda t: -ndcg.get(t["model"], 0.0))
    return ordered, False, ["model", *columns]


def _cmd_report(args: argparse.Namespace) -> int:
    from reelgraph.cli.report import markdown

    with _reader(args) as r:
        run = r.run_record(args.run)
        rows = r.metrics(run["run_id"])
    print(markdown(run, rows), end="")
    return 0


def _cmd_similar(args: argparse.Namespace) -> int:
    with _reader(args) as r:
        rows = r.similar(args.movie, args.k, args.run)
        seed = r.movie(args.movie)
    if not args.json and seed:
        print(f"movies closest to {seed['title']} ({seed['genres']}) in embedding space:")
    _emit(rows, args.json, ["movie_id", "title", "year", "genres", "similarity"])
    return 0


def _cmd_sql(args: argparse.Namespace) -> int:
    with _reader(args) as r:
        cols, rows = r.sql(args.query, args.limit)
    _emit([dict(zip(cols, row, strict=True)) for row in rows], args.json, cols or None)
    return 0


def _cmd_explore(args: argparse.Namespace) -> int:
    import uvicorn

    from reelgraph.explorer.app import LOCAL_HOSTS, create_app

    wh = settings.warehouse_path(args.warehouse)
    if not wh.exists():
        raise CliError(f"no warehouse at {wh}; run `reelgraph run` first or pass --warehouse")
    if not 1 <= args.port <= 65535:
        raise CliError(f"--port must be between 1 and 65535, got {args.port}")
    outputs = settings.outputs_dir(args.outputs)
    if not outputs.is_dir():
        if args.outputs:
            raise CliError(f"--outputs {outputs}: no such folder (the runs' figures and models)")
        print(
            f"warning: no outputs folder at {outputs}: no figures, no cold start", file=sys.stderr
        )
    if args.run:
        with _reader(args) as r:
            r.resolve_run(args.run)  # an unknown run is said now, not on the first page
    _port_free(args.host, args.port)
    preflight.at_least("--max-body-kb", args.max_body_kb, 1)
    preflight.at_least("--max-coldstart-ratings", args.max_coldstart_ratings, 1)
    hosts = [*LOCAL_HOSTS, *(args.allowed_host or [])]
    if args.host not in LOCAL_HOSTS:
        print(f"warning: serving on {args.host}, reachable from other machines", file=sys.stderr)
        if args.host not in ("0.0.0.0", "::"):
            hosts.append(args.host)
    app = create_app(
        wh,
        outputs,
        args.run,
        allowed_hosts=hosts,
        max_body_bytes=args.max_body_kb * 1024,
        max_coldstart_ratings=args.max_coldstart_ratings,
        allow_promote=args.allow_promote,
    )
    print(f"reelgraph explorer on http://{args.host}:{args.port}/ (Ctrl-C stops it)")
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def _port_free(host: str, port: int) -> None:
    """Refuse before printing the address when another process listens there (uvicorn would
    print its errno 98 after our line and exit 3)."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise CliError(
                f"cannot serve on {host}:{port}: {exc.strerror}; pick another --port"
            ) from exc


def source_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--source", help=f"local folder or zip instead of downloading (or ${settings.SOURCE_ENV})"
    )


def outputs_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--outputs",
        help=f"outputs folder (default {settings.DEFAULT_OUTPUTS} or ${settings.OUTPUTS_ENV})",
    )


def max_drift_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--max-drift",
        action="store_true",
        help="refuse new data whose profile moved past the drift bounds since the dataset's "
        "previous ingest (default: load it with a warning and a data-drift artifact)",
    )


def warehouse_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--warehouse",
        help=f"DuckDB file (default {settings.DEFAULT_WAREHOUSE} or ${settings.WAREHOUSE_ENV})",
    )


def add_read_commands(sub: argparse._SubParsersAction) -> None:
    """recommend, runs, metrics, report, similar, sql and explore, on the `reelgraph` parser."""

    def reader_parser(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text)
        warehouse_flag(p)
        p.add_argument("--json", action="store_true", help="print JSON instead of a table")
        return p

    p = reader_parser("recommend", "top-K (or least relevant) movies for a user, with filters")
    p.add_argument("--user", type=int, required=True, help="MovieLens user id")
    p.add_argument(
        "--genres",
        help="comma-separated; a movie qualifies if it has any of them, e.g. Comedy,Drama",
    )
    p.add_argument(
        "--years", help="release years FROM:TO, e.g. 1990:2010 (either side may be empty)"
    )
    p.add_argument(
        "--min-score", type=float, help="only movies whose ranking score is at least this"
    )
    p.add_argument("--k", type=int, default=10, help="list length, 1-1000 (default: 10)")
    p.add_argument("--least", action="store_true", help="the least relevant movies instead")
    p.add_argument("--run", help="a published run id (default: the latest)")
    p.set_defaults(func=_cmd_recommend)

    p = reader_parser("runs", "published runs, newest first")
    p.set_defaults(func=_cmd_runs)

    p = reader_parser("metrics", "every model's test metrics of a run")
    p.add_argument("--run", help="a published run id (default: the latest)")
    p.set_defaults(func=_cmd_metrics)

    p = reader_parser(
        "diff",
        "what changed between two published runs (default: the latest against the one before)",
    )
    p.add_argument("runs", nargs="*", metavar="RUN", help="[RUN_A] RUN_B (B: the newer)")
    p.add_argument("--k", type=int, default=10, help="length of the lists compared (default: 10)")
    p.set_defaults(func=_cmd_diff)

    p = sub.add_parser(
        "report", help="a run's comparison table and provenance as Markdown (for the docs)"
    )
    warehouse_flag(p)
    p.add_argument("--run", help="a published run id (default: the latest)")
    p.set_defaults(func=_cmd_report)

    p = reader_parser("similar", "movies closest to a movie in the model's embedding space")
    p.add_argument("--movie", type=int, required=True, help="MovieLens movie id")
    p.add_argument("--k", type=int, default=10, help="how many, 1-1000 (default: 10)")
    p.add_argument("--run", help="a published run id (default: the latest)")
    p.set_defaults(func=_cmd_similar)

    p = reader_parser("sql", "run a read-only SQL query on the warehouse")
    p.add_argument("query")
    p.add_argument("--limit", type=int, default=1000, help="print at most this many rows")
    p.set_defaults(func=_cmd_sql)

    _add_explore_command(sub)


def _add_explore_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("explore", help="serve the web explorer (read-only unless --allow-promote)")
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: 127.0.0.1, this machine)",
    )
    p.add_argument("--port", type=int, default=8765, help="1-65535 (default: 8765)")
    warehouse_flag(p)
    p.add_argument(
        "--outputs",
        help=f"outputs folder with the runs' figures (default {settings.DEFAULT_OUTPUTS})",
    )
    p.add_argument("--run", help="the run shown by default (default: the latest)")
    p.add_argument(
        "--allowed-host",
        action="append",
        help="a Host header to answer besides localhost's (repeat it; the name people type "
        "when serving on 0.0.0.0); others get 400, which stops DNS-rebinding pages",
    )
    p.add_argument(
        "--max-body-kb", type=int, default=64, help="largest request body accepted (default 64)"
    )
    p.add_argument(
        "--max-coldstart-ratings",
        type=int,
        default=1000,
        help="most ratings in one cold-start request (default 1000)",
    )
    p.add_argument(
        "--allow-promote",
        action="store_true",
        help="show a promote button on the runs page for held runs (default: read-only)",
    )
    p.set_defaults(func=_cmd_explore)
