"""Evaluation with the baselines: the one evaluation protocol every model goes through (rating
metrics, full-catalogue ranking metrics, catalogue metrics), the validation probe that selects
epochs, the baselines, and the comparison table.

May import: reelgraph.model.recommender, reelgraph.graph.ratings, reelgraph.core. Imports only torch /
torch_geometric / numpy (and scipy, implicit, scikit-learn inside functions).
"""
