"""reelgraph: a MovieLens recommender run as Prefect flows over a DuckDB warehouse.

The package root imports nothing heavy: model, training and scoring modules depend only on
torch / torch_geometric / numpy so they run on a GPU machine without Prefect or DuckDB.
"""

__version__ = "0.1.0"
