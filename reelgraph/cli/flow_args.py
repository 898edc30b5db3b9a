"""A command's arguments as the keyword arguments of the Prefect flow it runs (same names)."""

from __future__ import annotations

import argparse
import inspect


def flow_parameters(flow) -> dict[str, inspect.Parameter]:  # noqa: ANN001 - a Prefect flow
    return dict(inspect.signature(flow.fn).parameters)


def flow_defaults(flow) -> dict:  # noqa: ANN001 - a Prefect flow
    """The flow's parameters as it would run with nothing set."""
    return {
        name: p.default
        for name, p in flow_parameters(flow).items()
        if p.default is not inspect.Parameter.empty
    }


def flow_arguments(flow, args: argparse.Namespace) -> dict:  # noqa: ANN001 - a Prefect flow
    """The command's arguments that are parameters of the flow it runs (same names)."""
    return {name: getattr(args, name) for name in flow_parameters(flow) if hasattr(args, name)}
