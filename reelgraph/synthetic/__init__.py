"""Synthetic MovieLens-shaped data: presets at the shapes of the real releases, written as the
same six CSV files (tests and benchmarks never need the licensed data), or built in memory as
a RatingGraph (a GPU machine without Polars or DuckDB).

May import: reelgraph.core, reelgraph.graph.ratings (Polars only inside the CSV writers).
"""
