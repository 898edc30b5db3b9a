"""Prefect flows, one per file (named *_flow.py so no module shadows another on sys.path)."""
