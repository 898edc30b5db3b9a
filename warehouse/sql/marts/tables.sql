-- Published outputs of each run. A run's rows are inserted, and ops.latest switched to it,
-- inside one transaction: a reader of the *_latest views sees the previous run or this one.
CREATE SCHEMA IF NOT EXISTS marts;
CREATE SCHEMA IF NOT EXISTS ops;

CREATE TABLE IF NOT EXISTS ops.runs (
    run_id            VARCHAR PRIMARY KEY,
    flow_run_id       VARCHAR,
    dataset           VARCHAR NOT NULL,
    data_checksum     VARCHAR NOT NULL,
    split_id          VARCHAR NOT NULL,
    params            JSON NOT NULL,
    seed              BIGINT NOT NULL,
    code_version      VARCHAR NOT NULL,
    package_versions  JSON NOT NULL,
    device            VARCHAR NOT NULL,
    timings           JSON NOT NULL,
    started_at        TIMESTAMP NOT NULL,
    finished_at       TIMESTAMP,
    status            VARCHAR NOT NULL,
    spec              JSON,
    graph_path        VARCHAR,
    model_path        VARCHAR,
    refresh_of        VARCHAR
);
-- Warehouses made before these columns existed get them (NULL for their older runs).
ALTER TABLE ops.runs ADD COLUMN IF NOT EXISTS spec JSON;
ALTER TABLE ops.runs ADD COLUMN IF NOT EXISTS graph_path VARCHAR;
ALTER TABLE ops.runs ADD COLUMN IF NOT EXISTS model_path VARCHAR;
ALTER TABLE ops.runs ADD COLUMN IF NOT EXISTS refresh_of VARCHAR;
COMMENT ON TABLE ops.runs IS 'Registry of pipeline runs: what data, parameters, code and machine produced each published version.';
COMMENT ON COLUMN ops.runs.code_version IS 'git commit of the code (with +dirty when it had uncommitted changes), or the package version outside git.';
COMMENT ON COLUMN ops.runs.timings IS 'Wall seconds per stage.';
COMMENT ON COLUMN ops.runs.spec IS 'The run spec whole (reelgraph.run_spec.RunSpec): every parameter the run was started with; NULL for a refresh.';
COMMENT ON COLUMN ops.runs.params IS 'What the spec resolved to: the config file, GraphSAGE''s model and training settings, the evaluation split; a refresh: its new-rating counts.';
COMMENT ON COLUMN ops.runs.graph_path IS 'The graph (graph.pt) the published lists were scored on: refresh and cold start read it.';
COMMENT ON COLUMN ops.runs.model_path IS 'The model file (model.pt) that produced the published lists.';
COMMENT ON COLUMN ops.runs.refresh_of IS 'For a refresh: the run whose model re-scored every user; NULL for a pipeline run.';
COMMENT ON COLUMN ops.runs.status IS 'published (its rows are in marts.*), pruned (dropped by retention), or failed.';

CREATE TABLE IF NOT EXISTS ops.latest (
    dataset  VARCHAR PRIMARY KEY,
    run_id   VARCHAR NOT NULL
);
COMMENT ON TABLE ops.latest IS 'The run each marts.*_latest view shows, per dataset; switched in the publishing transaction.';

CREATE TABLE IF NOT EXISTS marts.recommendations (
    run_id            VARCHAR NOT NULL,
    user_id           INTEGER NOT NULL,
    rank              INTEGER NOT NULL,
    movie_id          INTEGER NOT NULL,
    score             FLOAT NOT NULL,
    predicted_rating  FLOAT NOT NULL,
    because_movie_id  INTEGER
);
COMMENT ON TABLE marts.recommendations IS 'Top-K movies per user, best first; movies the user rated in train are never recommended.';
COMMENT ON COLUMN marts.recommendations.run_id IS 'The run that produced the row (ops.runs).';
COMMENT ON COLUMN marts.recommendations.user_id IS 'MovieLens user id.';
COMMENT ON COLUMN marts.recommendations.rank IS '1 = most relevant.';
COMMENT ON COLUMN marts.recommendations.movie_id IS 'MovieLens movie id (raw.movies).';
COMMENT ON COLUMN marts.recommendations.score IS 'Ranking score of the model (higher is more relevant; comparable within a run).';
COMMENT ON COLUMN marts.recommendations.predicted_rating IS 'Predicted rating in stars, 0.5 to 5.';
COMMENT ON COLUMN marts.recommendations.because_movie_id IS 'The user''s train movie rated >= 4 closest to this one (cosine of rating vectors): "because you liked ...". NULL when the user rated nothing highly.';

CREATE TABLE IF NOT EXISTS marts.least_relevant (
    run_id            VARCHAR NOT NULL,
    user_id           INTEGER NOT NULL,
    rank              INTEGER NOT NULL,
    movie_id          INTEGER NOT NULL,
    score             FLOAT NOT NULL,
    predicted_rating  FLOAT NOT NULL,
    because_movie_id  INTEGER
);
COMMENT ON TABLE marts.least_relevant IS 'Bottom-K movies per user (rank 1 = least relevant), same columns as marts.recommendations.';
COMMENT ON COLUMN marts.least_relevant.run_id IS 'The run that produced the row (ops.runs).';
COMMENT ON COLUMN marts.least_relevant.user_id IS 'MovieLens user id.';
COMMENT ON COLUMN marts.least_relevant.rank IS '1 = least relevant.';
COMMENT ON COLUMN marts.least_relevant.movie_id IS 'MovieLens movie id (raw.movies).';
COMMENT ON COLUMN marts.least_relevant.score IS 'Ranking score of the model (lower is less relevant).';
COMMENT ON COLUMN marts.least_relevant.predicted_rating IS 'Predicted rating in stars, 0.5 to 5.';
COMMENT ON COLUMN marts.least_relevant.because_movie_id IS 'The user''s highly rated train movie closest to this one in the embedding space.';

CREATE TABLE IF NOT EXISTS marts.user_embeddings (
    run_id            VARCHAR NOT NULL,
    user_id           INTEGER NOT NULL,
    embedding         FLOAT[] NOT NULL,
    rating_embedding  FLOAT[] NOT NULL,
    rating_bias       FLOAT NOT NULL,
    global_mean       FLOAT NOT NULL
);
COMMENT ON TABLE marts.user_embeddings IS 'Ranking embedding of each user (score = <user, movie> + movie bias).';
COMMENT ON COLUMN marts.user_embeddings.run_id IS 'The run that produced the row (ops.runs).';
COMMENT ON COLUMN marts.user_embeddings.user_id IS 'MovieLens user id.';
COMMENT ON COLUMN marts.user_embeddings.embedding IS 'Ranking vector y_u: score(u, m) = list_dot_product(y_u, y_m) + movie bias.';
COMMENT ON COLUMN marts.user_embeddings.rating_embedding IS 'Rating vector z_u: predicted rating = global_mean + rating_bias(u) + rating_bias(m) + list_dot_product(z_u, z_m), clamped to [0.5, 5].';
COMMENT ON COLUMN marts.user_embeddings.rating_bias IS 'User rating bias b_u, stars.';
COMMENT ON COLUMN marts.user_embeddings.global_mean IS 'Mean train rating the model predicts around, stars.';

CREATE TABLE IF NOT EXISTS marts.movie_embeddings (
    run_id            VARCHAR NOT NULL,
    movie_id          INTEGER NOT NULL,
    embedding         FLOAT[] NOT NULL,
    bias              FLOAT NOT NULL,
    rating_embedding  FLOAT[] NOT NULL,
    rating_bias       FLOAT NOT NULL
);
COMMENT ON TABLE marts.movie_embeddings IS 'The decoder''s vectors of each movie; cosine similarity of rating vectors drives `reelgraph similar` and the explanations.';
COMMENT ON COLUMN marts.movie_embeddings.run_id IS 'The run that produced the row (ops.runs).';
COMMENT ON COLUMN marts.movie_embeddings.movie_id IS 'MovieLens movie id.';
COMMENT ON COLUMN marts.movie_embeddings.embedding IS 'Ranking vector y_m (see marts.user_embeddings.embedding).';
COMMENT ON COLUMN marts.movie_embeddings.bias IS 'Ranking bias c_m of the movie.';
COMMENT ON COLUMN marts.movie_embeddings.rating_embedding IS 'Rating vector z_m.';
COMMENT ON COLUMN marts.movie_embeddings.rating_bias IS 'Movie rating bias b_m, stars.';
