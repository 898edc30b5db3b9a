"""No function over 80 lines and no module over 400 (synthetic.py, a data generator, aside).

Every module and function is within the limits: shorten what grows past them (split the
module, name the steps of the function) rather than adding exceptions here.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("reelgraph", "flows", "tasks", "warehouse")
MAX_FUNCTION, MAX_MODULE = 80, 400
EXEMPT = {"reelgraph/synthetic.py"}


def _sizes() -> tuple[dict[str, int], dict[str, int]]:
    modules, functions = {}, {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            source = path.read_text()
            modules[rel] = len(source.splitlines())
            for node in ast.walk(ast.parse(source)):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    functions[f"{rel}::{node.name}"] = node.end_lineno - node.lineno + 1
    return modules, functions


def test_functions_and_modules_stay_small() -> None:
    modules, functions = _sizes()
    assert len(modules) > 50 and len(functions) > 300  # the walk found the code
    too_long = [
        f"{name}: {n} lines (limit {limit})"
        for sizes, limit in ((modules, MAX_MODULE), (functions, MAX_FUNCTION))
        for name, n in sorted(sizes.items())
        if n > limit and name.split("::")[0] not in EXEMPT
    ]
    assert not too_long, "\n".join(too_long)
