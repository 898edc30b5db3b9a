"""Tuning: the search of GraphSAGE's and every ranking baseline's settings on validation (Optuna,
one budget each), and the tuned settings per dataset that `reelgraph run` picks up.

May import every stage below it: pipeline, serve, train, evaluate, model, graph, core.
"""
