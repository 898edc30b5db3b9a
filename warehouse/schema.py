"""Tables as data: each layer's tables, columns and their descriptions live in one TOML file
(warehouse/sql/<layer>/<name>.toml), and the DDL and `COMMENT ON` statements are generated
from it, so a column is described once, beside its type, and every table is made the same way.

A file holds:
- `create`: "if not exists" (tables that keep rows across runs) or "or replace" (the raw
  layer, which an ingest recreates whole);
- `before`: statements to run first (a sequence);
- `[tables."<schema>.<table>"]` with `about` (the table's description), `columns` (one
  "name TYPE [constraints] -- description" per column; the description is optional) and
  `added_later` (columns that older warehouses lack: added with ADD COLUMN IF NOT EXISTS).
"""

from __future__ import annotations

import dataclasses
import tomllib
from importlib import resources

import duckdb

_DESCRIPTION = " -- "
_CREATE = {
    "if not exists": "CREATE TABLE IF NOT EXISTS {}",
    "or replace": "CREATE OR REPLACE TABLE {}",
}


@dataclasses.dataclass(frozen=True)
class Column:
    name: str
    definition: str  # "name TYPE [constraints]"
    about: str | None


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _column(line: str) -> Column:
    definition, _, about = line.partition(_DESCRIPTION)
    definition = " ".join(definition.split())
    return Column(definition.split()[0], definition, about.strip() or None)


def table_statements(name: str, table: dict, create: str) -> list[str]:
    """CREATE, ALTER (columns added later) and COMMENT statements of one table."""
    columns = [_column(line) for line in table["columns"]]
    by_name = {c.name: c for c in columns}
    body = ",\n    ".join(c.definition for c in columns)
    statements = [f"{_CREATE[create].format(name)} (\n    {body}\n)"]
    statements += [
        f"ALTER TABLE {name} ADD COLUMN IF NOT EXISTS {by_name[col].definition}"
        for col in table.get("added_later", [])
    ]
    statements.append(f"COMMENT ON TABLE {name} IS {_quoted(table['about'])}")
    statements += [
        f"COMMENT ON COLUMN {name}.{c.name} IS {_quoted(c.about)}" for c in columns if c.about
    ]
    return statements


def layer_statements(layer: str, name: str = "tables.toml") -> list[str]:
    """Every statement that makes the tables of warehouse/sql/<layer>/<name>."""
    spec = tomllib.loads(resources.files("warehouse").joinpath("sql", layer, name).read_text())
    tables: dict[str, dict] = spec["tables"]
    schemas = sorted({t.split(".")[0] for t in tables})
    statements = [f"CREATE SCHEMA IF NOT EXISTS {s}" for s in schemas] + spec.get("before", [])
    for table_name, table in tables.items():
        statements += table_statements(table_name, table, spec.get("create", "if not exists"))
    return statements


def create_tables(con: duckdb.DuckDBPyConnection, layer: str, name: str = "tables.toml") -> None:
    """Make (or, for an "or replace" layer, remake) the tables of one layer file."""
    for statement in layer_statements(layer, name):
        con.execute(statement)
