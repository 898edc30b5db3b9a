"""The `reelgraph` command line. Each sub-command is a thin shell over a flow or a read API."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence

from reelgraph import settings
from reelgraph.errors import ReelgraphError


class CliError(Exception):
    """A user mistake: printed as one line with a hint, exit code 2."""


def _cmd_generate(args: argparse.Namespace) -> int:
    from reelgraph.synthetic import generate

    result = generate(args.preset, args.out, seed=args.seed)
    for name, rows in result.row_counts.items():
        print(f"{name:20s} {rows:>12,d} rows")
    print(f"wrote preset {result.preset!r} (seed {result.seed}) to {result.directory}")
    return 0


def _cmd_ingest(args: argparse.Namespace) -> int:
    settings.configure_prefect_environment()
    from flows.ingest_flow import ingest_flow

    result = ingest_flow(
        dataset=args.dataset,
        source=args.source,
        warehouse=args.warehouse,
        max_reject_fraction=args.max_reject_fraction,
        force=args.force,
    )
    _print_ingest(result, args.json)
    return 0


def _print_ingest(result: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result, indent=2))
        return
    state = "unchanged (same data already ingested)" if result["skipped"] else "loaded"
    print(f"ingest {result['ingest_id']} of {result['dataset']}: {state}")
    for table, rows in result["row_counts"].items():
        print(f"  {table:20s} {rows:>12,d} rows")
    rejected = {f: n for f, n in result["rejected_rows"].items() if n}
    if rejected:
        print(f"  rejected: {rejected} (see ops.ingest_rejects)")
    if result["missing_files"]:
        print(f"  optional files absent: {', '.join(result['missing_files'])}")


def _cmd_run(args: argparse.Namespace) -> int:
    settings.configure_prefect_environment()
    from flows.pipeline_flow import pipeline_flow

    result = pipeline_flow(
        dataset=args.dataset,
        source=args.source,
        warehouse=args.warehouse,
        outputs=args.outputs,
        split=args.split,
        n_users=args.n_users,
        seed=args.seed,
        epochs=args.epochs,
        device=args.device,
        k=args.k,
        force=args.force,
    )
    if args.json:
        print(json.dumps(result, indent=2, default=str))
        return 0
    _print_ingest(result["ingest"], False)
    s, f, t = result["split"], result["features"], result["train"]
    print(
        f"split {s['split_id']}: {s['counts']['train']:,} train / {s['counts']['val']:,} val / "
        f"{s['counts']['test']:,} test ratings; cold users {s['counts']['cold_users']}, "
        f"cold movies {s['counts']['cold_movies']}"
    )
    print(
        f"features: users {f['user_rows']:,} x {f['user_dim']}, movies {f['movie_rows']:,} x "
        f"{f['movie_dim']} (content from {f['content_source']})"
    )
    print(
        f"GraphSAGE: best epoch {t['best_epoch']} of {t['epochs_run']} on {t['device']} "
        f"({t['seconds_per_epoch']:.3f} s/epoch); test RMSE {t['metrics']['test']['rmse']:.4f}, "
        f"MAE {t['metrics']['test']['mae']:.4f}"
    )
    print(f"\nrun {result['run_id']}: test metrics of every model on the same split\n")
    print(result["evaluate"]["table"])
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="reelgraph", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("generate", help="write a synthetic MovieLens-shaped dataset")
    p.add_argument("--preset", choices=["tiny", "small", "25m"], required=True)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_generate)

    p = sub.add_parser("ingest", help="acquire a MovieLens release and load it into the warehouse")
    p.add_argument(
        "--dataset",
        default="ml-latest-small",
        help="ml-latest-small, ml-25m, ml-20m, ml-latest, or any name with --source",
    )
    p.add_argument(
        "--source", help=f"local folder or zip instead of downloading (or ${settings.SOURCE_ENV})"
    )
    p.add_argument(
        "--warehouse",
        help=f"DuckDB file (default {settings.DEFAULT_WAREHOUSE} or ${settings.WAREHOUSE_ENV})",
    )
    p.add_argument(
        "--max-reject-fraction",
        type=float,
        default=0.01,
        help="fail when more than this share of a file's rows is invalid",
    )
    p.add_argument(
        "--force", action="store_true", help="reload even if this data is already ingested"
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=_cmd_ingest)

    p = sub.add_parser("run", help="run the whole pipeline (acquire, ingest, ...)")
    p.add_argument("--dataset", default="ml-latest-small")
    p.add_argument(
        "--source", help=f"local folder or zip instead of downloading (or ${settings.SOURCE_ENV})"
    )
    p.add_argument(
        "--warehouse",
        help=f"DuckDB file (default {settings.DEFAULT_WAREHOUSE} or ${settings.WAREHOUSE_ENV})",
    )
    p.add_argument("--split", choices=["random", "temporal", "user_subgraph"], default="random")
    p.add_argument("--n-users", type=int, help="users to sample for --split user_subgraph")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--epochs",
        type=int,
        default=300,
        help="most training epochs (early stopping may end sooner)",
    )
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:N")
    p.add_argument("--k", type=int, default=20, help="length of the recommendation lists")
    p.add_argument(
        "--outputs",
        help=f"outputs folder (default {settings.DEFAULT_OUTPUTS} or ${settings.OUTPUTS_ENV})",
    )
    p.add_argument("--force", action="store_true", help="redo ingest and features even if cached")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except CliError as exc:
        print(f"reelgraph: {exc}", file=sys.stderr)
        return 2
    except ReelgraphError as exc:
        print(f"reelgraph {args.command}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
