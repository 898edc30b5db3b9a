-- The rating graph of one split: contiguous node indices assigned here, in SQL, so every
-- consumer (training, scoring, publishing) maps ids the same way.
-- user_idx: 0..n-1 over the split's users in user_id order; movie_idx: 0..n-1 over the split's
-- movie feature rows (every movie of raw.movies) in movie_id order.
CREATE OR REPLACE TEMP TABLE graph_users AS
SELECT user_id, (row_number() OVER (ORDER BY user_id) - 1)::INTEGER AS user_idx
FROM (SELECT DISTINCT user_id FROM staging.split_ratings WHERE split_id = $split_id);

CREATE OR REPLACE TEMP TABLE graph_movies AS
SELECT movie_id, (row_number() OVER (ORDER BY movie_id) - 1)::INTEGER AS movie_idx
FROM features.movie_features WHERE split_id = $split_id;

CREATE OR REPLACE TEMP TABLE graph_edges AS
SELECT u.user_idx, m.movie_idx, r.rating, r.part
FROM staging.split_ratings AS r
JOIN graph_users AS u USING (user_id)
JOIN graph_movies AS m USING (movie_id)
WHERE r.split_id = $split_id;
