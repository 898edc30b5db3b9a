-- Defined on every connection (a TEMP macro), so read-only readers of any warehouse have it.
-- Release year from a MovieLens title: the trailing "(1995)", or the first year of "(2006-2007)";
-- trailing spaces ignored; NULL when the title has none. One definition for features and readers.
CREATE OR REPLACE TEMP MACRO movie_year(title) AS
    TRY_CAST(nullif(regexp_extract(trim(title), '\((\d{4})(?:\s*[-–]\s*\d{0,4})?\)$', 1), '') AS INTEGER);
