"""`reelgraph refresh`: what the daily deployment runs, from the command line."""

from __future__ import annotations

import argparse
import json

from reelgraph.cli.flow_args import flow_arguments
from reelgraph.cli.prefect_server import start_owned_server
from reelgraph.cli.read import max_drift_flag, outputs_flag, source_flag, warehouse_flag
from reelgraph.core import settings
from reelgraph.pipeline import preflight


def _cmd_refresh(args: argparse.Namespace) -> int:
    preflight.ingest_inputs(**vars(args))
    preflight.list_length(args.k)
    preflight.at_least("--retention", args.retention, 1)
    preflight.device(args.device)
    preflight.writable_dir(settings.outputs_dir(args.outputs), "--outputs")
    settings.configure_prefect_environment()
    from flows.refresh_flow import refresh_flow
    from tasks.refresh_tasks import check_refreshable

    settings.quiet_prefect_notices()

    check_refreshable(str(settings.warehouse_path(args.warehouse)), args.dataset)
    start_owned_server()
    result = refresh_flow(**flow_arguments(refresh_flow, args))
    if args.json:
        print(json.dumps(result, indent=2, default=str))
        return 0
    print(
        f"refresh {result['run_id']} of run {result['refresh_of']} (its model, no retraining; "
        f"its metrics): {result['ratings']:,} ratings, {result['new_users']:,} new users, "
        f"{result['skipped_unknown_movies']:,} ratings of unknown movies skipped, "
        f"{result['users_without_ratings']:,} users with no rating left (no list); "
        f"{result['publish']['recommendations']:,} recommendations published"
    )
    return 0


def add_refresh_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "refresh",
        help="ingest new ratings and re-score every user with the latest run's model "
        "(no retraining): what the daily deployment runs",
    )
    p.add_argument("--dataset", default="ml-latest-small", help="(default: ml-latest-small)")
    source_flag(p)
    warehouse_flag(p)
    outputs_flag(p)
    p.add_argument("--k", type=int, default=20, help="list length, 1-1000 (default: 20)")
    p.add_argument("--retention", type=int, default=5, help="published runs kept (default: 5)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N (default: auto)")
    max_drift_flag(p)
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=_cmd_refresh)
