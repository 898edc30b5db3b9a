-- The raw layer: exactly what the MovieLens CSVs hold, typed. An ingest recreates all of it
-- inside one transaction, so readers see the previous dataset or the new one, never a mix.
CREATE SCHEMA IF NOT EXISTS raw;

CREATE OR REPLACE TABLE raw.movies (
    movie_id  INTEGER NOT NULL,
    title     VARCHAR NOT NULL,
    genres    VARCHAR NOT NULL
);
COMMENT ON TABLE raw.movies IS 'movies.csv: one row per movie.';
COMMENT ON COLUMN raw.movies.title IS 'Title as published, usually ending in the release year in parentheses.';
COMMENT ON COLUMN raw.movies.genres IS 'Pipe-separated genres, or "(no genres listed)".';

CREATE OR REPLACE TABLE raw.ratings (
    user_id   INTEGER NOT NULL,
    movie_id  INTEGER NOT NULL,
    rating    FLOAT NOT NULL,
    ts        TIMESTAMP NOT NULL
);
COMMENT ON TABLE raw.ratings IS 'ratings.csv: one row per (user, movie) star rating.';
COMMENT ON COLUMN raw.ratings.rating IS 'Stars, 0.5 to 5.0 in half-star steps.';
COMMENT ON COLUMN raw.ratings.ts IS 'When the rating was made, UTC.';

CREATE OR REPLACE TABLE raw.tags (
    user_id   INTEGER NOT NULL,
    movie_id  INTEGER NOT NULL,
    tag       VARCHAR NOT NULL,
    ts        TIMESTAMP NOT NULL
);
COMMENT ON TABLE raw.tags IS 'tags.csv: free-text tags users applied to movies (empty when the release has none).';

CREATE OR REPLACE TABLE raw.links (
    movie_id  INTEGER NOT NULL,
    imdb_id   VARCHAR NOT NULL,
    tmdb_id   INTEGER
);
COMMENT ON TABLE raw.links IS 'links.csv: identifiers of each movie on IMDb and TMDB.';
COMMENT ON COLUMN raw.links.imdb_id IS 'IMDb number as published, leading zeros kept (https://www.imdb.com/title/tt<imdb_id>/).';

CREATE OR REPLACE TABLE raw.genome_tags (
    tag_id  INTEGER NOT NULL,
    tag     VARCHAR NOT NULL
);
COMMENT ON TABLE raw.genome_tags IS 'genome-tags.csv: the tag genome vocabulary (empty when the release has no genome).';

CREATE OR REPLACE TABLE raw.genome_scores (
    movie_id   INTEGER NOT NULL,
    tag_id     INTEGER NOT NULL,
    relevance  FLOAT NOT NULL
);
COMMENT ON TABLE raw.genome_scores IS 'genome-scores.csv: relevance in [0, 1] of each genome tag to each covered movie.';
