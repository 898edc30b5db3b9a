"""The `reelgraph` command line: the pipeline commands (generate, ingest, run, tune, server) and
the read commands (recommend, runs, metrics, similar, sql, explore).

The top layer: may import everything, flows included.
"""
