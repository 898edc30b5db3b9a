-- Splits of raw.ratings into train / val / test, keyed by split_id (a hash of the protocol,
-- its parameters, the seed and the data checksum). Several splits can live side by side.
CREATE SCHEMA IF NOT EXISTS staging;

CREATE TABLE IF NOT EXISTS staging.splits (
    split_id       VARCHAR PRIMARY KEY,
    data_checksum  VARCHAR NOT NULL,
    protocol       VARCHAR NOT NULL,
    params         JSON NOT NULL,
    seed           BIGINT NOT NULL,
    counts         JSON NOT NULL,
    created_at     TIMESTAMP NOT NULL
);
COMMENT ON TABLE staging.splits IS 'One row per split: protocol, parameters, seed, data checksum and counts (train/val/test ratings, cold-start users and movies).';

CREATE TABLE IF NOT EXISTS staging.split_ratings (
    split_id    VARCHAR NOT NULL,
    user_id     INTEGER NOT NULL,
    movie_id    INTEGER NOT NULL,
    rating      FLOAT NOT NULL,
    ts          TIMESTAMP NOT NULL,
    part        VARCHAR NOT NULL,
    cold_user   BOOLEAN NOT NULL,
    cold_movie  BOOLEAN NOT NULL
);
COMMENT ON TABLE staging.split_ratings IS 'Each rating of a split with its part: train, val or test.';
COMMENT ON COLUMN staging.split_ratings.cold_user IS 'The user has no train rating in this split (cold start): scored from features only.';
COMMENT ON COLUMN staging.split_ratings.cold_movie IS 'The movie has no train rating in this split (cold start): scored from features only.';
