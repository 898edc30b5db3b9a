-- Per-movie features that SQL expresses best; every movie of raw.movies gets a row.
-- year:              release year parsed from the title's trailing "(1995)" or "(2006-2007)"
--                    (first year of a range; trailing spaces ignored); NULL when there is none;
-- train_count:       the movie's train ratings in this split;
-- mean_rating_shrunk: mean train rating shrunk toward the global train mean with $shrinkage
--                    pseudo-ratings, minus that mean (0 for a movie with no train rating).
WITH train AS (
    SELECT movie_id, rating::DOUBLE AS rating
    FROM staging.split_ratings
    WHERE split_id = $split_id AND part = 'train'
),
g AS (SELECT avg(rating) AS mu FROM train),
per_movie AS (
    SELECT movie_id, count(*) AS n, sum(rating) AS s FROM train GROUP BY movie_id
)
SELECT
    m.movie_id,
    movie_year(m.title) AS year,
    coalesce(p.n, 0) AS train_count,
    (coalesce(p.s, 0) + $shrinkage * g.mu) / (coalesce(p.n, 0) + $shrinkage) - g.mu AS mean_rating_shrunk,
    m.genres
FROM raw.movies AS m
CROSS JOIN g
LEFT JOIN per_movie AS p USING (movie_id)
ORDER BY m.movie_id
