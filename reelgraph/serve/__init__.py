"""Serving: the lists by user shard as Parquet, the atomic publish into the warehouse's marts,
Hive-partitioned marts, figures, the model card, the run summary, metrics rows, and the daily
refresh that re-scores users without retraining.

May import: reelgraph.train.fit, reelgraph.evaluate.protocol and the stages below them, warehouse.
"""
