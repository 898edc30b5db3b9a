"""What a pipeline run is made of besides its stages: the run spec (every setting, once), the
checks made before any work starts (preflight), and where fan-out tasks execute (Dask).

May import: the stages below it (serve, train, evaluate, features, ingest, model, graph, core).
"""
