"""How the packages may depend on each other, checked by import-linter's contracts (in
pyproject.toml): the layers from the command line down to the core, no import cycle among the
packages or among the modules of any package, and the model stack free of Prefect, DuckDB,
Polars and pyarrow so it runs on a GPU machine that has only torch, PyG and numpy. A second,
independent check walks every import of the project's modules for a cycle, and both are shown
to catch a cycle planted in a package of their own."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import grimp
import networkx as nx

ROOT = Path(__file__).resolve().parents[1]
PROJECT = ("reelgraph", "flows", "tasks", "warehouse")


def _lint_imports(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    lint = Path(sys.executable).parent / "lint-imports"
    return subprocess.run(
        [str(lint), "--no-cache", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def import_cycles(packages: tuple[str, ...]) -> list[list[str]]:
    """Every elementary cycle of module imports among `packages` (function-level imports and
    those under TYPE_CHECKING count: each is a dependency a reader has to follow)."""
    graph = grimp.build_graph(*packages, cache_dir=None)
    edges = nx.DiGraph()
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            if imported.split(".")[0] in packages:
                edges.add_edge(module, imported)
    return list(nx.simple_cycles(edges))


def test_import_contracts_are_kept() -> None:
    proc = _lint_imports(ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "3 kept, 0 broken" in proc.stdout


def test_no_module_imports_itself_through_others() -> None:
    assert import_cycles(PROJECT) == []


def _planted(tmp_path: Path) -> Path:
    """A package whose two modules import each other, one of them inside a function."""
    pkg = tmp_path / "planted"
    (pkg / "stage").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "stage" / "__init__.py").write_text("")
    (pkg / "stage" / "a.py").write_text("from planted.stage import b\n")
    (pkg / "stage" / "b.py").write_text("def f():\n    from planted.stage import a\n")
    (tmp_path / ".importlinter").write_text(
        textwrap.dedent(
            """\
            [importlinter]
            root_package = planted

            [importlinter:contract:acyclic]
            name = No import cycles
            type = acyclic_siblings
            ancestors =
                planted
            """
        )
    )
    return tmp_path


def test_a_planted_cycle_is_caught(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    root = _planted(tmp_path)
    monkeypatch.syspath_prepend(str(root))
    cycles = import_cycles(("planted",))
    assert sorted(map(sorted, cycles)) == [["planted.stage.a", "planted.stage.b"]]
    proc = _lint_imports(root, str(root / ".importlinter"))
    assert proc.returncode != 0 and "0 kept, 1 broken" in proc.stdout, proc.stdout[-2000:]
