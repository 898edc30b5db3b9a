"""`reelgraph promote RUN_ID`: make a run the publish gate held the latest of its dataset."""

from __future__ import annotations

import argparse

from reelgraph.cli.read import warehouse_flag
from reelgraph.core import settings
from reelgraph.serve import publish


def _cmd_promote(args: argparse.Namespace) -> int:
    dataset = publish.promote(settings.warehouse_path(args.warehouse), args.run_id)
    print(f"run {args.run_id} is now the latest of {dataset}")
    return 0


def add_promote_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "promote",
        help="make a held run (see `reelgraph runs`) the latest of its dataset, in one "
        "transaction like a publish",
    )
    p.add_argument("run_id", metavar="RUN_ID", help="the run to make the latest")
    warehouse_flag(p)
    p.set_defaults(func=_cmd_promote)
