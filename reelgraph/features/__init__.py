"""Split and features: train / validation / test parts by rating (random, temporal, user subgraph),
user and movie features from the TRAIN part only (no leakage), and the RatingGraph of a split
built from those tables.

May import: reelgraph.core, reelgraph.graph.ratings, warehouse.
"""
