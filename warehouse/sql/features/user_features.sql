-- User features from the TRAIN ratings of one split: 34 values per user.
-- mean_rating_centered: the user's mean train rating minus the global train mean (stars);
-- log_count_z:          log(1 + train ratings), standardised over train users;
-- rating_var:           population variance of the user's train ratings (0 for a single rating);
-- hour_00..hour_23:     share of the user's train ratings made in each UTC hour of the day;
-- dow_mon..dow_sun:     share made on each UTC day of the week.
-- Users without a train rating get no row (cold start: the model uses zeros, i.e. "average").
WITH train AS (
    SELECT user_id, rating::DOUBLE AS rating, ts
    FROM staging.split_ratings
    WHERE split_id = $split_id AND part = 'train'
),
per_user AS (
    SELECT
    user_id,
    avg(rating) AS mean_rating,
    ln(1 + count(*)) AS log_count,
    var_pop(rating) AS rating_var,
    avg((hour(ts) = 0)::DOUBLE) AS hour_00,
    avg((hour(ts) = 1)::DOUBLE) AS hour_01,
    avg((hour(ts) = 2)::DOUBLE) AS hour_02,
    avg((hour(ts) = 3)::DOUBLE) AS hour_03,
    avg((hour(ts) = 4)::DOUBLE) AS hour_04,
    avg((hour(ts) = 5)::DOUBLE) AS hour_05,
    avg((hour(ts) = 6)::DOUBLE) AS hour_06,
    avg((hour(ts) = 7)::DOUBLE) AS hour_07,
    avg((hour(ts) = 8)::DOUBLE) AS hour_08,
    avg((hour(ts) = 9)::DOUBLE) AS hour_09,
    avg((hour(ts) = 10)::DOUBLE) AS hour_10,
    avg((hour(ts) = 11)::DOUBLE) AS hour_11,
    avg((hour(ts) = 12)::DOUBLE) AS hour_12,
    avg((hour(ts) = 13)::DOUBLE) AS hour_13,
    avg((hour(ts) = 14)::DOUBLE) AS hour_14,
    avg((hour(ts) = 15)::DOUBLE) AS hour_15,
    avg((hour(ts) = 16)::DOUBLE) AS hour_16,
    avg((hour(ts) = 17)::DOUBLE) AS hour_17,
    avg((hour(ts) = 18)::DOUBLE) AS hour_18,
    avg((hour(ts) = 19)::DOUBLE) AS hour_19,
    avg((hour(ts) = 20)::DOUBLE) AS hour_20,
    avg((hour(ts) = 21)::DOUBLE) AS hour_21,
    avg((hour(ts) = 22)::DOUBLE) AS hour_22,
    avg((hour(ts) = 23)::DOUBLE) AS hour_23,
    avg((isodow(ts) = 1)::DOUBLE) AS dow_mon,
    avg((isodow(ts) = 2)::DOUBLE) AS dow_tue,
    avg((isodow(ts) = 3)::DOUBLE) AS dow_wed,
    avg((isodow(ts) = 4)::DOUBLE) AS dow_thu,
    avg((isodow(ts) = 5)::DOUBLE) AS dow_fri,
    avg((isodow(ts) = 6)::DOUBLE) AS dow_sat,
    avg((isodow(ts) = 7)::DOUBLE) AS dow_sun
    FROM train
    GROUP BY user_id
)
SELECT
    $split_id AS split_id,
    user_id,
    mean_rating - (SELECT avg(rating) FROM train) AS mean_rating_centered,
    coalesce((log_count - avg(log_count) OVER ()) / nullif(stddev_pop(log_count) OVER (), 0), 0) AS log_count_z,
    rating_var,
    COLUMNS('^(hour|dow)_')
FROM per_user
ORDER BY user_id
