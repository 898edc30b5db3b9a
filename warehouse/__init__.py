"""The DuckDB warehouse: connections, the tables by layer (as data), and the read API.

DuckDB lets one process write a file, or several read it, never both at once. Writers keep
transactions short; every connection retries a held lock with backoff and says clearly when
it gives up, so readers (CLI, explorer, a person's duckdb shell) survive a flow's writes.
"""

from warehouse.connection import WarehouseError, WarehouseLockedError, connect, run_sql_file
from warehouse.schema import create_tables

__all__ = ["WarehouseError", "WarehouseLockedError", "connect", "create_tables", "run_sql_file"]
