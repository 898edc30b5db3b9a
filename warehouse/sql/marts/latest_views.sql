-- The *_latest views: for each dataset, the rows of the run ops.latest points at.
CREATE OR REPLACE VIEW marts.recommendations_latest AS
    SELECT t.* FROM marts.recommendations AS t JOIN ops.latest AS l USING (run_id);
CREATE OR REPLACE VIEW marts.least_relevant_latest AS
    SELECT t.* FROM marts.least_relevant AS t JOIN ops.latest AS l USING (run_id);
CREATE OR REPLACE VIEW marts.user_embeddings_latest AS
    SELECT t.* FROM marts.user_embeddings AS t JOIN ops.latest AS l USING (run_id);
CREATE OR REPLACE VIEW marts.movie_embeddings_latest AS
    SELECT t.* FROM marts.movie_embeddings AS t JOIN ops.latest AS l USING (run_id);
CREATE OR REPLACE VIEW marts.metrics_latest AS
    SELECT t.* FROM marts.metrics AS t JOIN ops.latest AS l USING (run_id);
COMMENT ON VIEW marts.recommendations_latest IS 'marts.recommendations of the latest published run of each dataset (ops.latest).';
COMMENT ON VIEW marts.least_relevant_latest IS 'marts.least_relevant of the latest published run of each dataset.';
COMMENT ON VIEW marts.user_embeddings_latest IS 'marts.user_embeddings of the latest published run of each dataset.';
COMMENT ON VIEW marts.movie_embeddings_latest IS 'marts.movie_embeddings of the latest published run of each dataset.';
COMMENT ON VIEW marts.metrics_latest IS 'marts.metrics of the latest published run of each dataset.';
