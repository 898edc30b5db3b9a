"""The GraphSAGE recommender: its settings, the two encoders and their layers, the decoder (one
definition for torch and numpy), model files, and scoring the whole catalogue (top-K with a
user's movies excluded).

May import: reelgraph.core, reelgraph.graph.ratings. Imports only torch / torch_geometric / numpy.
"""
