-- What a run's model saw of one user, (movie_id, rating): the split's train ratings, or, for a
-- refresh run (which passes every current rating as messages), all of the user's ratings.
WITH run AS (
    SELECT split_id, json_extract_string(params, '$.refresh_of') IS NOT NULL AS refresh
    FROM ops.runs WHERE run_id = $run_id
)
SELECT movie_id, rating FROM staging.split_ratings
WHERE split_id = (SELECT split_id FROM run) AND user_id = $user_id AND part = 'train'
  AND NOT (SELECT refresh FROM run)
UNION ALL
SELECT movie_id, rating FROM raw.ratings
WHERE user_id = $user_id AND (SELECT refresh FROM run)
ORDER BY movie_id
