-- Operational records: what was ingested, what was refused.
CREATE SCHEMA IF NOT EXISTS ops;
CREATE SEQUENCE IF NOT EXISTS ops.ingest_id_seq START 1;

CREATE TABLE IF NOT EXISTS ops.ingests (
    ingest_id      BIGINT PRIMARY KEY,
    dataset        VARCHAR NOT NULL,
    source         VARCHAR NOT NULL,
    verified       BOOLEAN NOT NULL,
    verification   VARCHAR NOT NULL,
    data_checksum  VARCHAR NOT NULL,
    files          JSON NOT NULL,
    row_counts     JSON NOT NULL,
    rejected_rows  JSON NOT NULL,
    missing_files  VARCHAR[] NOT NULL,
    status         VARCHAR NOT NULL,
    error          VARCHAR,
    started_at     TIMESTAMP NOT NULL,
    finished_at    TIMESTAMP NOT NULL
);
COMMENT ON TABLE ops.ingests IS 'One row per ingest attempt: dataset, file checksums, row counts, rejects, and whether it succeeded.';
COMMENT ON COLUMN ops.ingests.data_checksum IS 'sha256 over the sorted (file, sha256) pairs of the dataset files: the cache key of every later stage.';
COMMENT ON COLUMN ops.ingests.verified IS 'true when the files matched hashes published for the release; custom datasets load unverified.';
COMMENT ON COLUMN ops.ingests.row_counts IS 'rows loaded per raw table.';
COMMENT ON COLUMN ops.ingests.rejected_rows IS 'rows refused per source file (details in ops.ingest_rejects).';
COMMENT ON COLUMN ops.ingests.status IS 'succeeded or failed; a failed ingest changed no raw table.';

CREATE TABLE IF NOT EXISTS ops.ingest_rejects (
    ingest_id  BIGINT NOT NULL,
    file       VARCHAR NOT NULL,
    line       BIGINT NOT NULL,
    reason     VARCHAR NOT NULL,
    raw        VARCHAR
);
COMMENT ON TABLE ops.ingest_rejects IS 'Rows the ingest refused: source file, 1-based line number (the header is line 1), reason and the raw fields.';
