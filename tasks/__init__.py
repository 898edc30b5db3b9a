"""Prefect @task wrappers. The logic lives in plain functions in `reelgraph`; tasks pass small
manifests (paths, table names, ids, checksums), never connections, frames or models."""
