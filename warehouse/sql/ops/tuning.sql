-- Every trial of `reelgraph tune`: which model, which settings, and what validation said.
CREATE SCHEMA IF NOT EXISTS ops;

CREATE TABLE IF NOT EXISTS ops.tuning (
    tuning_id   VARCHAR NOT NULL,
    dataset     VARCHAR NOT NULL,
    split_id    VARCHAR NOT NULL,
    model       VARCHAR NOT NULL,
    trial       INTEGER NOT NULL,
    params      JSON NOT NULL,
    value       DOUBLE,
    extra       JSON NOT NULL,
    seconds     DOUBLE NOT NULL,
    error       VARCHAR,
    chosen      BOOLEAN NOT NULL,
    created_at  TIMESTAMP NOT NULL
);
COMMENT ON TABLE ops.tuning IS 'One row per tuning trial: the settings tried and their validation NDCG@20 (the test part is never read while tuning).';
COMMENT ON COLUMN ops.tuning.tuning_id IS 'One `reelgraph tune` invocation (its trials share it).';
COMMENT ON COLUMN ops.tuning.model IS 'graphsage or a ranking baseline (ease, lightgcn, bpr_mf, ials).';
COMMENT ON COLUMN ops.tuning.params IS 'The settings of this trial (graphsage: {"model": ..., "train": ...}).';
COMMENT ON COLUMN ops.tuning.value IS 'Validation NDCG@20 over the whole catalogue, train movies excluded; NULL when the trial failed.';
COMMENT ON COLUMN ops.tuning.extra IS 'What else the trial measured: the epochs it stopped at, validation RMSE.';
COMMENT ON COLUMN ops.tuning.chosen IS 'true for the trial whose settings the tuning wrote to its config file.';
