"""Training: settings, the epoch loop with model selection on validation, the optimiser steps,
the ranking losses, checkpoints with exact resume, and training across processes.

May import: reelgraph.evaluate.protocol, reelgraph.model.recommender, reelgraph.graph.ratings, reelgraph.core. Imports only
torch / torch_geometric / numpy.
"""
