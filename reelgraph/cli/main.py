"""The `reelgraph` command line. Each sub-command is a thin shell over a flow or a read API."""

from __future__ import annotations

import argparse
import errno
import json
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from reelgraph.cli.flow_args import flow_arguments, flow_defaults
from reelgraph.cli.prefect_server import start_owned_server
from reelgraph.cli.promote import add_promote_command
from reelgraph.cli.read import (
    add_read_commands,
    max_drift_flag,
    outputs_flag,
    source_flag,
    warehouse_flag,
)
from reelgraph.cli.refresh import add_refresh_command
from reelgraph.core import quiet_refusals, settings
from reelgraph.core.conventions import ALL_FILES
from reelgraph.core.errors import CliError, ReelgraphError
from reelgraph.pipeline import preflight, run_spec
from reelgraph.serve import publish_gate
from reelgraph.serve.run_summary import budget_warning


class _Parser(argparse.ArgumentParser):
    """argparse, but a mistake is one line and exit code 1, like every other refusal."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(1, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _cmd_generate(args: argparse.Namespace) -> int:
    preflight.seed_value(args.seed)
    preflight.writable_dir(args.out, "--out")
    there = [name for name in ALL_FILES if (Path(args.out) / name).exists()]
    if there and not args.force:  # someone's export, or an earlier dataset: never silently lost
        raise CliError(
            f"--out {args.out} already holds {', '.join(there)}; choose an empty folder, or pass "
            "--force to overwrite them"
        )
    from reelgraph.synthetic.generator import generate

    result = generate(args.preset, args.out, seed=args.seed)
    for name, rows in result.row_counts.items():
        print(f"{name:20s} {rows:>12,d} rows")
    print(f"wrote preset {result.preset!r} (seed {result.seed}) to {result.directory}")
    return 0


def _cmd_ingest(args: argparse.Namespace) -> int:
    preflight.ingest_inputs(**vars(args))
    preflight.download_reachable(args.dataset, args.source)
    settings.configure_prefect_environment()
    from flows.ingest_flow import ingest_flow

    settings.quiet_prefect_notices()

    start_owned_server()
    result = ingest_flow(**flow_arguments(ingest_flow, args))
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


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _tunable_list(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in settings.TUNABLE]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"cannot tune {', '.join(unknown)}; tunable: {', '.join(settings.TUNABLE)}"
        )
    return names


def _cmd_run(args: argparse.Namespace) -> int:
    settings.configure_prefect_environment()
    from flows.pipeline_flow import check_pipeline, pipeline_flow

    settings.quiet_prefect_notices()

    spec = run_spec.from_args(args)
    check_pipeline(spec)  # before any work starts
    start_owned_server()
    result = pipeline_flow(**spec.model_dump())
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
    print(f"settings: {result['config_file'] or 'the code defaults (no tuned config)'}")
    print(
        f"GraphSAGE: rating output from epoch {t['best_epoch']}, ranking output from epoch "
        f"{t['best_rank_epoch']}{_filter_text(t)}, of {t['epochs_run']} on {t['device']} "
        f"({_trained(t)}"
        f"{', stopped by the training time budget' if t['stopped_by_budget'] else ''}); "
        f"test RMSE {t['metrics']['test']['rmse']:.4f}, MAE {t['metrics']['test']['mae']:.4f}"
    )
    for warning in (budget_warning(t), result["evaluate"].get("warning")):
        if warning:
            print(warning, file=sys.stderr)
    refit = result["refit"]
    if refit:
        print(
            f"served model: refit on every rating ({refit['split_id']}) "
            f"{'from the evaluated model' if refit.get('warm_start') else 'from scratch'}, "
            f"{refit['best_epoch']} / {refit['best_rank_epoch']} epochs, {refit['seconds']:.0f} s"
        )
    print(f"\nrun {result['run_id']}: test metrics of every model on the same split\n")
    print(result["evaluate"]["table"])
    print(publish_gate.describe(result["run_id"], result["publish"]["gate"]))
    return 0


def _filter_text(t: dict) -> str:
    """' with the item filter at weight 2.0', or nothing (no channel, or weight 0)."""
    weight = (t.get("item_filter") or {}).get("weight")
    return f" with the item filter at weight {weight:g}" if weight else ""


def _trained(t: dict) -> str:
    """'95 s', or what a reused checkpoint saved."""
    resumed = t.get("resumed_from_epoch")
    if resumed is not None and resumed >= t["epochs_run"]:
        return f"reused the checkpoint of epoch {resumed}, no training now"
    return f"{t['seconds']:.0f} s" + (f", resumed after epoch {resumed}" if resumed else "")


def _cmd_tune(args: argparse.Namespace) -> int:
    settings.configure_prefect_environment()
    from flows.tune_flow import check_tune, tune_flow

    settings.quiet_prefect_notices()

    params = flow_arguments(tune_flow, args)
    check_tune(**{**flow_defaults(tune_flow), **params})  # before any work starts
    start_owned_server()
    result = tune_flow(**params)
    if args.json:
        print(json.dumps(result, indent=2, default=str))
        return 0
    print(f"tuning {result['tuning_id']} on split {result['split_id']} (validation only):")
    for model, best in result["best"].items():
        print(f"  {model:10s} validation NDCG@20 {best['value']:.4f}  {json.dumps(best['params'])}")
    print(f"chosen settings written to {result['config']}; `reelgraph run` reads them")
    return 0


def _cmd_server(args: argparse.Namespace) -> int:
    from reelgraph.cli import server

    settings.configure_prefect_environment()
    preflight.at_least("--port", args.port, 1)
    root = Path.cwd()
    if not (root / "prefect.yaml").exists():
        raise CliError("run `reelgraph server` from the project root (where prefect.yaml is)")
    stack = server.Stack(Path(os.environ["PREFECT_HOME"]), args.host, args.port)
    if args.action == "up":
        server.up(stack, root, worker=not args.no_worker)
    elif args.action == "down":
        server.down(stack)
    else:
        return 0 if server.status(stack) else 1
    return 0


def _add_tune_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "tune", help="choose GraphSAGE's and the baselines' settings on the validation split"
    )
    p.add_argument(
        "--dataset", default="ml-latest-small", help="as for run (default: ml-latest-small)"
    )
    source_flag(p)
    warehouse_flag(p)
    outputs_flag(p)
    p.add_argument(
        "--split",
        choices=["random", "temporal", "user_subgraph"],
        default="random",
        help="split whose validation part is searched (default: random)",
    )
    p.add_argument("--n-users", type=int, help="users to sample for --split user_subgraph")
    p.add_argument("--seed", type=int, default=0, help="seed of the split and trials (default: 0)")
    p.add_argument("--trials", type=_positive_int, default=20, help="trials per model (default 20)")
    p.add_argument(
        "--models",
        type=_tunable_list,
        help=f"comma-separated models to tune (default all: {','.join(settings.TUNABLE)})",
    )
    p.add_argument("--out", help="config file to write (default outputs/tuned/<dataset>.json)")
    p.add_argument("--force", action="store_true", help="redo ingest and features even if cached")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_tune)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="reelgraph", description=__doc__)
    parser.add_argument(
        "--debug",
        action="store_true",
        help=f"show the tracebacks of refusals too (or {quiet_refusals.DEBUG_ENV}=1)",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("generate", help="write a synthetic MovieLens-shaped dataset")
    p.add_argument("--preset", choices=["tiny", "small", "25m"], required=True)
    p.add_argument(
        "--out", required=True, help="output folder (refused when it holds release files)"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the generator (default: 0)")
    p.add_argument(
        "--force", action="store_true", help="overwrite the release files already in --out"
    )
    p.set_defaults(func=_cmd_generate)

    p = sub.add_parser("ingest", help="acquire a MovieLens release and load it into the warehouse")
    p.add_argument(
        "--dataset",
        default="ml-latest-small",
        help="ml-latest-small, ml-25m, ml-20m, ml-latest, or any name with --source",
    )
    source_flag(p)
    warehouse_flag(p)
    p.add_argument(
        "--max-reject-fraction",
        type=float,
        default=0.01,
        help="fail when more than this share of a file's rows is invalid",
    )
    p.add_argument(
        "--force", action="store_true", help="reload even if this data is already ingested"
    )
    max_drift_flag(p)
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=_cmd_ingest)

    p = sub.add_parser(
        "run",
        help="run the whole pipeline (acquire, ingest, ...)",
        description="Every flag is a field of the run spec (reelgraph/pipeline/run_spec.py): the same "
        "fields are pipeline_flow's parameters and the weekly-pipeline deployment's.",
    )
    run_spec.add_arguments(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_run)

    _add_tune_command(sub)
    add_refresh_command(sub)
    add_promote_command(sub)

    add_read_commands(sub)

    p = sub.add_parser(
        "server",
        help="start (up), stop (down) or check (status) the Prefect server, work pool, "
        "deployments and worker that scheduled runs need",
    )
    p.add_argument("action", choices=["up", "down", "status"])
    p.add_argument("--host", default="127.0.0.1", help="address the server listens on")
    p.add_argument("--port", type=int, default=4200, help="the server's port (default 4200)")
    p.add_argument("--no-worker", action="store_true", help="up: do not start a worker")
    p.set_defaults(func=_cmd_server)

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    if args.debug:  # read by Prefect's console filter in this process and any it starts
        os.environ[quiet_refusals.DEBUG_ENV] = "1"
    if argv is None and args.command in LONG_COMMANDS:  # the real command line, not a test
        from reelgraph.core.shutdown import exit_promptly_on_sigterm

        exit_promptly_on_sigterm(args.command)
    try:
        return func(args)
    except CliError as exc:
        print(f"reelgraph: {exc}", file=sys.stderr)
        return 1
    except ReelgraphError as exc:
        if quiet_refusals.debugging():
            traceback.print_exc()
        print(f"reelgraph {args.command}: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        # A full disk or a folder that turned read-only mid-run: every write is atomic, so the
        # warehouse and outputs keep their last good state; say so in one line.
        if exc.errno not in _WRITE_FAILURES:
            raise
        where = f" ({exc.filename})" if exc.filename else ""
        print(
            f"reelgraph {args.command}: cannot write{where}: {exc.strerror}; nothing was "
            f"published, the warehouse and outputs keep their last good state",
            file=sys.stderr,
        )
        return 1


LONG_COMMANDS = (
    "generate",
    "ingest",
    "run",
    "tune",
    "refresh",
)  # those a SIGTERM must end promptly
_WRITE_FAILURES = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM}

if __name__ == "__main__":
    sys.exit(main())
