"""No function over 80 lines, no module over 400, no package over 15 modules, and nothing in
`reelgraph/` itself but the package's `__init__.py` and its entry point: every module lives in
the package of its stage.

Every module and function is within the limits: shorten what grows past them (split the
module, name the steps of the function) rather than adding exceptions here.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("reelgraph", "flows", "tasks", "warehouse")
MAX_FUNCTION, MAX_MODULE, MAX_PACKAGE = 80, 400, 15
# What may sit directly in reelgraph/: the package and `python -m reelgraph`.
ROOT_MODULES = {"__init__.py", "__main__.py"}


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
        if n > limit
    ]
    assert not too_long, "\n".join(too_long)


def test_every_module_lives_in_a_stage_package() -> None:
    loose = sorted(p.name for p in (ROOT / "reelgraph").glob("*.py"))
    assert set(loose) == ROOT_MODULES, f"modules directly in reelgraph/: {loose}"
    packages = [p.parent for p in (ROOT / "reelgraph").rglob("__init__.py")]
    assert len(packages) > 10  # the walk found the stage packages
    crowded = {
        p.relative_to(ROOT).as_posix(): n
        for p in packages
        if (n := sum(1 for f in p.glob("*.py") if f.name != "__init__.py")) > MAX_PACKAGE
    }
    assert not crowded, f"packages over {MAX_PACKAGE} modules: {crowded}"
    undocumented = [
        p.relative_to(ROOT).as_posix()
        for p in packages
        if ast.get_docstring(ast.parse((p / "__init__.py").read_text())) is None
    ]
    assert not undocumented, (
        f"packages whose __init__ says nothing of what they hold: {undocumented}"
    )
