"""The README and the docs site: one page of README, a site that builds with no broken link,
every `reelgraph` command they show accepted by the command line as written, and their SQL run
on a published warehouse. (The Prefect blocks run in tests/test_deployment.py.)"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from doc_blocks import PAGES, ROOT, fenced

from reelgraph.cli.main import build_parser

README_LINES = 200
COMMAND = re.compile(r"^\s*(?:\.venv/bin/)?reelgraph (.+)$")


def test_readme_is_one_page() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= README_LINES, f"README.md is {len(lines)} lines (at most {README_LINES})"


def test_the_site_builds_strictly(tmp_path: Path) -> None:
    mkdocs = Path(sys.executable).parent / "mkdocs"
    proc = subprocess.run(
        [str(mkdocs), "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},  # Material's banner about its successor
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    built = list((tmp_path / "site").rglob("index.html"))
    assert len(built) >= 11  # every page of the nav made it


def _commands() -> list[tuple[Path, str]]:
    """Every `reelgraph ...` line of a bash block (comments dropped, `|` alternatives split)."""
    found = []
    for page, block in fenced("bash"):
        for line in block.splitlines():
            m = COMMAND.match(line.split(" #")[0].rstrip())
            if m:
                found += [(page, alt.strip()) for alt in _alternatives(m.group(1))]
    return found


def _alternatives(args: str) -> list[str]:
    """`server up | status | down` -> three commands; other text as it is."""
    words = args.split(" | ")
    if len(words) == 1:
        return [args]
    head = words[0].rsplit(" ", 1)[0]
    return [words[0], *(f"{head} {w}" for w in words[1:])]


# Placeholders the pages use for a value a reader types in, and a value of the right type.
PLACEHOLDERS = {"RUN_ID": "20261203T000000Z-abc123", "DIR": "some/folder", "FILE": "x.json"}


def test_every_command_on_the_pages_parses() -> None:
    commands = _commands()
    assert len(commands) >= 20  # the pages' command lines were found
    parser = build_parser()
    refused = []
    for page, text in commands:
        argv = [PLACEHOLDERS.get(a, a) for a in shlex.split(text.replace("[", "").replace("]", ""))]
        try:
            parser.parse_args(argv)
        except SystemExit:
            refused.append(f"{page.name}: reelgraph {text}")
    assert not refused, "\n".join(refused)


def test_the_sql_on_the_pages_runs_on_a_published_warehouse(
    pipeline_run: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As written, from the folder that holds outputs/ (the Hive marts query reads it); a query
    of a table this warehouse lacks (ops.tuning: no tuning ran) is the only kind skipped."""
    monkeypatch.chdir(pipeline_run["outputs"].parent)
    ran, skipped = 0, []
    with duckdb.connect(str(pipeline_run["warehouse"]), read_only=True) as con:
        tables = {
            f"{s}.{t}"
            for s, t in con.execute(
                "SELECT schema_name, table_name FROM duckdb_tables()"
            ).fetchall()
        }
        for _page, sql in fenced("sql", PAGES):
            missing = [t for t in re.findall(r"\b(ops\.\w+)", sql) if t not in tables]
            if missing:
                skipped.append(missing)
                continue
            con.execute(sql).fetchall()
            ran += 1
    assert ran >= 5 and all(m == ["ops.tuning"] for m in skipped), (ran, skipped)


def test_report_writes_the_runs_table_from_its_warehouse(pipeline_run: dict, capsys) -> None:  # noqa: ANN001
    from reelgraph.cli.main import main

    run_id = pipeline_run["result"]["run_id"]
    assert main(["report", "--run", run_id, "--warehouse", str(pipeline_run["warehouse"])]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"`reelgraph report --run {run_id}`")
    rows = {
        line.split(" | ")[0].strip("| "): line for line in out.splitlines() if line.startswith("| ")
    }
    with duckdb.connect(str(pipeline_run["warehouse"]), read_only=True) as con:
        ndcg = dict(
            con.execute(
                "SELECT model, value FROM marts.metrics WHERE run_id = ? AND split = 'test' "
                "AND metric = 'ndcg' AND k = 5",  # the fixture's lists are 5 long (--k 5)
                [run_id],
            ).fetchall()
        )
    assert set(rows) - {"model"} == set(ndcg)  # one row per model, nothing else
    for model, value in ndcg.items():
        assert f"{value:.4f}" in rows[model]
    assert list(rows)[1] == "graphsage"  # after the header: GraphSAGE first
