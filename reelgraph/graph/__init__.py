"""The user-movie rating graph as plain tensors: RatingGraph (nodes, features, edges per part),
its torch-native CSR adjacency, the message graph of one forward pass, and neighbour sampling.

May import: reelgraph.core. Imports only torch / numpy.
"""
