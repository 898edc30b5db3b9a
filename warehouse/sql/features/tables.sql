-- Feature tables are created by the first build (their genre columns follow the release);
-- this file holds what has a fixed shape.
CREATE SCHEMA IF NOT EXISTS features;

CREATE TABLE IF NOT EXISTS features.builds (
    split_id    VARCHAR PRIMARY KEY,
    build_key   VARCHAR NOT NULL,
    result      JSON NOT NULL,
    built_at    TIMESTAMP NOT NULL
);
COMMENT ON TABLE features.builds IS 'Which split has features built, by which feature code version and parameters (build_key): a rebuild happens only when these change.';
