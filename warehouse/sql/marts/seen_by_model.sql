-- What a run's model saw of one user, (movie_id, rating): the split's train ratings, or, for a
-- refresh run (which passes every current rating as messages), all of the user's ratings.
-- $split_id and $refresh come from the run's ops.runs row (the caller caches them per run:
-- looking them up here as scalar subqueries made this query ~8x slower on 25M ratings).
SELECT movie_id, rating FROM staging.split_ratings
WHERE NOT $refresh AND split_id = $split_id AND user_id = $user_id AND part = 'train'
UNION ALL
SELECT movie_id, rating FROM raw.ratings
WHERE $refresh AND user_id = $user_id
ORDER BY movie_id
