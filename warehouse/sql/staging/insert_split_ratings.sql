-- `assigned(user_id, movie_id, part_code)` is registered by the caller: 0 train, 1 val, 2 test.
INSERT INTO staging.split_ratings
WITH parts AS (
    SELECT a.user_id, a.movie_id, r.rating, r.ts,
           CASE a.part_code WHEN 0 THEN 'train' WHEN 1 THEN 'val' ELSE 'test' END AS part
    FROM assigned AS a
    JOIN raw.ratings AS r USING (user_id, movie_id)
),
train_users AS (SELECT DISTINCT user_id FROM parts WHERE part = 'train'),
train_movies AS (SELECT DISTINCT movie_id FROM parts WHERE part = 'train')
SELECT $split_id, p.user_id, p.movie_id, p.rating, p.ts, p.part,
       tu.user_id IS NULL AS cold_user,
       tm.movie_id IS NULL AS cold_movie
FROM parts AS p
LEFT JOIN train_users AS tu USING (user_id)
LEFT JOIN train_movies AS tm USING (movie_id);
