-- Recommendations for one user over the WHOLE catalogue of a run, with filters, scored from
-- the published decoder exactly as the model scores: score = <y_u, y_m> + c_m; predicted
-- rating = global_mean + b_u + b_m + <z_u, z_m>, clamped to [0.5, 5]. Movies the user rated in
-- train are never candidates. $least = true returns the least relevant first.
-- because_movie_id: the user's train movie rated >= 4 closest (cosine of rating vectors) to the
-- recommendation.
WITH run AS (
    SELECT split_id, json_extract_string(params, '$.refresh_of') IS NOT NULL AS refresh
    FROM ops.runs WHERE run_id = $run_id
),
u AS (
    SELECT * FROM marts.user_embeddings WHERE run_id = $run_id AND user_id = $user_id
),
-- What the model saw of this user: the split's train ratings, or, for a refresh run (which
-- passes every current rating as messages), all of the user's ratings in raw.ratings.
train AS (
    SELECT movie_id, rating FROM staging.split_ratings
    WHERE split_id = (SELECT split_id FROM run) AND user_id = $user_id AND part = 'train'
      AND NOT (SELECT refresh FROM run)
    UNION ALL
    SELECT movie_id, rating FROM raw.ratings
    WHERE user_id = $user_id AND (SELECT refresh FROM run)
),
liked AS (
    SELECT e.movie_id, e.rating_embedding AS embedding
    FROM train t JOIN marts.movie_embeddings e ON e.run_id = $run_id AND e.movie_id = t.movie_id
    WHERE t.rating >= 4
),
candidates AS (
    SELECT
        e.movie_id, m.title, m.genres, raw.movie_year(m.title) AS year,
        list_dot_product(u.embedding, e.embedding) + e.bias AS score,
        greatest(0.5, least(5.0, u.global_mean + u.rating_bias + e.rating_bias
                                 + list_dot_product(u.rating_embedding, e.rating_embedding))) AS predicted_rating,
        e.rating_embedding AS embedding
    FROM marts.movie_embeddings e
    CROSS JOIN u
    JOIN raw.movies m USING (movie_id)
    WHERE e.run_id = $run_id
      AND e.movie_id NOT IN (SELECT movie_id FROM train)
      AND ($genres IS NULL OR list_has_any(string_split(m.genres, '|'), $genres))
),
filtered AS (
    SELECT * FROM candidates
    WHERE ($year_from IS NULL OR year >= $year_from)
      AND ($year_to IS NULL OR year <= $year_to)
      AND ($min_score IS NULL OR score >= $min_score)
    ORDER BY CASE WHEN $least THEN score ELSE -score END, movie_id
    LIMIT $k
)
SELECT
    row_number() OVER (ORDER BY CASE WHEN $least THEN f.score ELSE -f.score END, f.movie_id) AS rank,
    f.movie_id, f.title, f.year, f.genres, f.score, f.predicted_rating,
    b.movie_id AS because_movie_id, bm.title AS because_title
FROM filtered f
LEFT JOIN LATERAL (
    SELECT l.movie_id FROM liked l
    ORDER BY list_cosine_similarity(f.embedding, l.embedding) DESC, l.movie_id LIMIT 1
) b ON true
LEFT JOIN raw.movies bm ON bm.movie_id = b.movie_id
ORDER BY rank
