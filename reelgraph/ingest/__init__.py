"""Acquisition and ingest: MovieLens releases (download with resume, verify, extract safely),
then the typed, validated, atomic load of their CSV files into the warehouse's raw tables.

May import: reelgraph.core, warehouse.
"""
