CREATE SCHEMA IF NOT EXISTS marts;

CREATE TABLE IF NOT EXISTS marts.metrics (
    run_id  VARCHAR NOT NULL,
    model   VARCHAR NOT NULL,
    split   VARCHAR NOT NULL,
    metric  VARCHAR NOT NULL,
    k       INTEGER,
    value   DOUBLE NOT NULL
);
COMMENT ON TABLE marts.metrics IS 'Evaluation results of each run: one row per (model, split, metric, k), every model on the same split through the same code.';
COMMENT ON COLUMN marts.metrics.run_id IS 'The run (see ops.runs) that produced the figure.';
COMMENT ON COLUMN marts.metrics.model IS 'graphsage, or a baseline: global_mean, bias, popularity, mf, ease, lightgcn.';
COMMENT ON COLUMN marts.metrics.split IS 'The part evaluated: val or test.';
COMMENT ON COLUMN marts.metrics.metric IS 'rmse, mae (stars); mse_scaled, ndcg_ref (the reference report''s figures); precision, recall, ndcg, map, hit_rate (full catalogue @k); coverage, novelty, personalization, popularity_bias.';
COMMENT ON COLUMN marts.metrics.k IS 'Cut-off of the ranking metrics; NULL for rating metrics.';
COMMENT ON COLUMN marts.metrics.value IS 'The figure: stars for rmse/mae, a share in [0, 1] for most ranking metrics, bits for novelty.';
