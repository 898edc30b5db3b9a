"""The tables made from warehouse/sql/*/*.toml: types, constraints, descriptions, and the
columns an older warehouse gains."""

from __future__ import annotations

import duckdb
import pytest

from warehouse.schema import create_tables, table_statements


def test_a_table_is_made_with_its_constraints_and_descriptions() -> None:
    con = duckdb.connect()
    create_tables(con, "marts")
    cols = con.execute(
        "SELECT column_name, data_type, is_nullable, comment FROM duckdb_columns() "
        "WHERE schema_name = 'ops' AND table_name = 'runs' ORDER BY column_index"
    ).fetchall()
    assert cols[0][:3] == ("run_id", "VARCHAR", False)
    by_name = {c[0]: c for c in cols}
    assert by_name["finished_at"][2] is True
    # a quote inside a description survives the generated COMMENT statement
    assert "GraphSAGE's model" in by_name["params"][3]
    with pytest.raises(duckdb.ConstraintException):
        con.execute("INSERT INTO ops.latest VALUES ('d', NULL)")


def test_an_older_table_gains_the_columns_added_later() -> None:
    table = {
        "about": "t",
        "columns": ["id INTEGER NOT NULL", "note VARCHAR -- added in a later version"],
        "added_later": ["note"],
    }
    con = duckdb.connect()
    con.execute("CREATE SCHEMA s")
    con.execute("CREATE TABLE s.t (id INTEGER NOT NULL)")
    con.execute("INSERT INTO s.t VALUES (1)")
    for statement in table_statements("s.t", table, "if not exists"):
        con.execute(statement)
    assert con.execute("SELECT id, note FROM s.t").fetchall() == [(1, None)]
    assert con.execute(
        "SELECT comment FROM duckdb_columns() WHERE table_name = 't' AND column_name = 'note'"
    ).fetchall() == [("added in a later version",)]


def test_every_layer_file_makes_its_tables_twice_without_error() -> None:
    """Running a layer again (every stage does) keeps what is there."""
    con = duckdb.connect()
    layers = [("raw", "tables.toml"), ("staging", "tables.toml"), ("features", "tables.toml")]
    layers += [("ops", "tables.toml"), ("ops", "tuning.toml"), ("marts", "tables.toml")]
    layers += [("marts", "metrics.toml")]
    for _ in range(2):
        for layer, name in layers:
            create_tables(con, layer, name)
    assert con.execute("SELECT count(*) FROM duckdb_tables()").fetchall()[0][0] == 20
