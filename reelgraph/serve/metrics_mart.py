"""Writing evaluation figures to marts.metrics."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from warehouse import connect, create_tables
from warehouse.connection import transaction

MetricRow = tuple[str, str, str, int | None, float]  # model, split, metric, k, value


def write_metrics(
    warehouse: str | Path,
    run_id: str,
    rows: Iterable[MetricRow],
    models: Iterable[str] | None = None,
) -> int:
    """Replace this run's rows for the given models (all models in rows by default), atomically."""
    rows = list(rows)
    replace = sorted(set(models) if models is not None else {r[0] for r in rows})
    con = connect(warehouse)
    try:
        create_tables(con, "marts", "metrics.toml")
        with transaction(con):
            if replace:
                con.execute(
                    "DELETE FROM marts.metrics WHERE run_id = ? AND list_contains(?, model)",
                    [run_id, replace],
                )
            if rows:
                con.executemany(
                    "INSERT INTO marts.metrics VALUES (?, ?, ?, ?, ?, ?)",
                    [(run_id, *r) for r in rows],
                )
    finally:
        con.close()
    return len(rows)


def rating_rows(model: str, metrics_by_part: dict[str, dict[str, float]]) -> list[MetricRow]:
    return [
        (model, part, name, None, float(v))
        for part, ms in metrics_by_part.items()
        if part != "train"
        for name, v in ms.items()
    ]
