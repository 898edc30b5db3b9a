-- The movies of one user that a run never recommends, (movie_id, rating): every rating of the
-- user in the run's split (train, validation and test: a run refit on every rating has only
-- train), or, for a refresh run (which passes every current rating as messages), all of the
-- user's ratings in raw.ratings. Those rated >= 4 are the explanation candidates.
-- $split_id and $refresh come from the run's ops.runs row (the caller caches them per run:
-- looking them up here as scalar subqueries made this query ~8x slower on 25M ratings).
SELECT movie_id, rating FROM staging.split_ratings
WHERE NOT $refresh AND split_id = $split_id AND user_id = $user_id AND part IN ('train', 'val', 'test')
UNION ALL
SELECT movie_id, rating FROM raw.ratings
WHERE $refresh AND user_id = $user_id
ORDER BY movie_id
