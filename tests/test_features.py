from __future__ import annotations

import math
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pytest
from conftest import write_dataset

from reelgraph.features.split import SplitParams, make_split
from reelgraph.features.tables import FeatureParams, build_features, load_feature_matrix
from reelgraph.ingest.datasets import acquire
from reelgraph.ingest.load import ingest
from warehouse import create_tables

MOVIES = """movieId,title,genres
10,Alpha (1990),Comedy|Drama
20,"Beta, The (2000) ",Drama
30,Gamma,(no genres listed)
40,Delta (2005-2007),Comedy
50,Epsilon (2010),Action
"""
# (user, movie, rating, unix time, part). 1609718399 = Sun 2021-01-03 23:59:59 UTC; one second
# later it is Monday 00:00:00: both sides of midnight and of the ISO week boundary.
HAND = [
    (1, 10, 4.0, 1609718399, "train"),
    (1, 20, 2.0, 1609718401, "train"),
    (2, 10, 5.0, 1609763400, "train"),  # Mon 12:30: user 2's only train rating
    (1, 40, 1.0, 1609800000, "val"),
    (2, 40, 3.0, 1609800001, "test"),
    (3, 20, 4.5, 1609800002, "test"),  # user 3 has no train rating: cold start
]
GENOME_TAGS = "tagId,tag\n1,funny\n2,dark\n3,slow\n"
GENOME = "movieId,tagId,relevance\n" + "".join(
    f"{m},{t},{r}\n"
    for m, rs in {10: (0.9, 0.1, 0.2), 20: (0.2, 0.8, 0.5), 40: (0.7, 0.3, 0.9)}.items()
    for t, r in enumerate(rs, start=1)
)


def _hand_warehouse(tmp_path: Path, genome: bool = True, tags: bool = False) -> Path:
    ratings = "userId,movieId,rating,timestamp\n" + "".join(
        f"{u},{m},{r},{t}\n" for u, m, r, t, _ in HAND
    )
    files = {"movies": MOVIES, "ratings": ratings}
    if genome:
        files |= {"genome_tags": GENOME_TAGS, "genome_scores": GENOME}
    if tags:
        files["tags"] = (
            "userId,movieId,tag,timestamp\n1,10,funny,1609718399\n2,20,dark,1609718399\n1,40,funny,1609718399\n2,40,slow,1609718399\n"
        )
    folder = write_dataset(tmp_path / "d", **files)
    wh = tmp_path / "w.duckdb"
    ingest(acquire("hand", source=folder, cache_dir=tmp_path / "c"), wh)
    with duckdb.connect(str(wh)) as con:
        create_tables(con, "staging")
        con.execute(
            "INSERT INTO staging.splits VALUES ('hand', 'x', 'random', '{}', 0, '{}', now())"
        )
        for u, m, r, t, part in HAND:
            con.execute(
                "INSERT INTO staging.split_ratings VALUES ('hand', ?, ?, ?, make_timestamp(?::BIGINT * 1000000), ?, false, false)",
                [u, m, r, t, part],
            )
    return wh


def _frame(wh: Path, table: str, key: str) -> dict[int, dict]:
    with duckdb.connect(str(wh), read_only=True) as con:
        df = con.sql(f"SELECT * FROM features.{table} WHERE split_id = 'hand' ORDER BY {key}").pl()
    return {row[key]: row for row in df.iter_rows(named=True)}


def test_user_features_exact_values(tmp_path: Path) -> None:
    wh = _hand_warehouse(tmp_path)
    result = build_features(wh, "hand")
    users = _frame(wh, "user_features", "user_id")
    assert set(users) == {1, 2} and result.users_without_train_ratings == 1  # user 3 is cold
    mu = 11 / 3
    u1, u2 = users[1], users[2]
    assert u1["mean_rating_centered"] == pytest.approx(3 - mu)
    assert u2["mean_rating_centered"] == pytest.approx(5 - mu)
    assert u1["rating_var"] == pytest.approx(1.0)
    assert u2["rating_var"] == 0.0  # a single rating: 0, never NaN
    assert u1["log_count_z"] == pytest.approx(1.0) and u2["log_count_z"] == pytest.approx(-1.0)
    assert (
        u1["hour_23"] == 0.5
        and u1["hour_00"] == 0.5
        and u1["dow_sun"] == 0.5
        and u1["dow_mon"] == 0.5
    )
    assert u2["hour_12"] == 1.0 and u2["dow_mon"] == 1.0
    for u in (u1, u2):
        assert sum(u[f"hour_{h:02d}"] for h in range(24)) == pytest.approx(1.0)
        assert sum(
            u[f"dow_{d}"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
        ) == pytest.approx(1.0)
    assert len(u1) - 2 == 34 == result.user_dim


def test_movie_features_exact_values(tmp_path: Path) -> None:
    wh = _hand_warehouse(tmp_path)
    result = build_features(wh, "hand", FeatureParams(shrinkage=10))
    movies = _frame(wh, "movie_features", "movie_id")
    assert set(movies) == {10, 20, 30, 40, 50}  # every movie, rated or not
    # Years: 1990, 2000 (trailing space), none, 2005 (first of a range), 2010; median of known = 2002.5.
    assert [movies[m]["year_norm"] for m in (10, 20, 30, 40, 50)] == pytest.approx(
        [0, 0.5, 0.625, 0.75, 1]
    )
    assert [movies[m]["year_missing"] for m in (10, 20, 30, 40, 50)] == [0, 0, 1, 0, 0]
    assert movies[10]["log_popularity"] == pytest.approx(1.0)
    assert movies[20]["log_popularity"] == pytest.approx(math.log(2) / math.log(3))
    assert movies[40]["log_popularity"] == 0.0  # rated in val/test only: no train signal
    assert movies[10]["mean_rating_shrunk"] == pytest.approx(5 / 36)  # (9 + 10*mu)/12 - mu
    assert movies[20]["mean_rating_shrunk"] == pytest.approx(-5 / 33)
    assert movies[50]["mean_rating_shrunk"] == 0.0
    genres = {
        m: (r["genre_action"], r["genre_comedy"], r["genre_drama"]) for m, r in movies.items()
    }
    assert genres == {10: (0, 1, 1), 20: (0, 0, 1), 30: (0, 0, 0), 40: (0, 1, 0), 50: (1, 0, 0)}
    assert not any(c.startswith("genre_no") for c in movies[10])
    # Genome: 3 tags -> 2 SVD directions, standardised over the 3 covered movies; others zero + flag.
    assert result.content_source == "genome"
    covered = np.array([[movies[m][f"content_{i:02d}"] for i in range(2)] for m in (10, 20, 40)])
    assert covered.mean(0) == pytest.approx([0, 0], abs=1e-6) and covered.std(0) == pytest.approx(
        [1, 1], rel=1e-5
    )
    for m in (10, 20, 40):
        assert movies[m]["content_missing"] == 0 and all(
            movies[m][f"content_{i:02d}"] == 0 for i in range(2, 50)
        )
    for m in (30, 50):  # no genome rows
        assert movies[m]["content_missing"] == 1 and all(
            movies[m][f"content_{i:02d}"] == 0 for i in range(50)
        )
    assert result.movie_dim == 4 + 3 + 50 + 1


def test_tags_stand_in_for_a_missing_genome_and_neither_gives_zeros(tmp_path: Path) -> None:
    wh = _hand_warehouse(tmp_path / "tags", genome=False, tags=True)
    assert build_features(wh, "hand").content_source == "tags"
    movies = _frame(wh, "movie_features", "movie_id")
    assert [movies[m]["content_missing"] for m in (10, 20, 30, 40, 50)] == [0, 0, 1, 0, 1]
    wh2 = _hand_warehouse(tmp_path / "none", genome=False, tags=False)
    assert build_features(wh2, "hand").content_source == "none"
    movies = _frame(wh2, "movie_features", "movie_id")
    assert all(r["content_missing"] == 1 and r["content_07"] == 0 for r in movies.values())


def test_manifest_documents_every_column_in_model_order(tmp_path: Path) -> None:
    wh = _hand_warehouse(tmp_path)
    build_features(wh, "hand")
    with duckdb.connect(str(wh), read_only=True) as con:
        ids, x, names = load_feature_matrix(con, "hand", "movie")
        assert (
            list(ids) == [10, 20, 30, 40, 50]
            and x.shape == (5, len(names))
            and x.dtype == np.float32
        )
        comments = dict(
            con.execute(
                "SELECT column_name, comment FROM duckdb_columns() WHERE table_name = 'user_features'"
            ).fetchall()
        )
        assert "UTC hour 23" in comments["hour_23"]
        m = con.sql(
            "SELECT entity, count(*) FROM features.manifest WHERE split_id = 'hand' GROUP BY 1 ORDER BY 1"
        ).fetchall()
        assert m == [("movie", 58), ("user", 34)]


def test_second_build_is_reused_and_force_rebuilds(tmp_path: Path) -> None:
    wh = _hand_warehouse(tmp_path)
    assert not build_features(wh, "hand").reused
    assert build_features(wh, "hand").reused
    assert not build_features(
        wh, "hand", FeatureParams(shrinkage=5)
    ).reused  # other params: rebuilt
    assert not build_features(wh, "hand", FeatureParams(shrinkage=5), force=True).reused


# ------------------------------------------------------------------------------ leakage, splits


def _features(wh: Path, split_id: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    with duckdb.connect(str(wh), read_only=True) as con:
        users = con.sql(
            "SELECT * EXCLUDE (split_id) FROM features.user_features WHERE split_id = $s ORDER BY user_id",
            params={"s": split_id},
        ).pl()
        movies = con.sql(
            "SELECT * EXCLUDE (split_id) FROM features.movie_features WHERE split_id = $s ORDER BY movie_id",
            params={"s": split_id},
        ).pl()
    return users, movies


@pytest.mark.parametrize("protocol", ["random", "temporal"])
def test_no_leakage_changing_heldout_ratings_changes_no_feature(
    tiny_dir: Path, tmp_path: Path, protocol: str
) -> None:
    params = SplitParams(protocol=protocol, seed=3)
    wh_a = tmp_path / "a.duckdb"
    ingest(acquire("tiny", source=tiny_dir, cache_dir=tmp_path / "c"), wh_a)
    split_a = make_split(wh_a, params)
    build_features(wh_a, split_a.split_id)
    with duckdb.connect(str(wh_a), read_only=True) as con:
        heldout = con.execute(
            "SELECT user_id, movie_id FROM staging.split_ratings WHERE split_id = ? AND part <> 'train'",
            [split_a.split_id],
        ).fetchall()
    assert heldout
    # Same data, but every val/test rating flipped to another value (and its time moved, within the day).
    ratings = pl.read_csv(tiny_dir / "ratings.csv")
    held = pl.DataFrame(heldout, schema=["userId", "movieId"], orient="row").with_columns(
        h=pl.lit(True)
    )
    changed = (
        ratings.join(held, on=["userId", "movieId"], how="left")
        .with_columns(
            rating=pl.when(pl.col("h")).then(5.5 - pl.col("rating")).otherwise("rating"),
        )
        .drop("h")
    )
    assert (changed["rating"] != ratings["rating"]).sum() > 0
    other = tmp_path / "changed"
    other.mkdir()
    for f in tiny_dir.glob("*.csv"):
        (other / f.name).write_bytes(f.read_bytes())
    changed.write_csv(other / "ratings.csv", float_precision=1)
    wh_b = tmp_path / "b.duckdb"
    ingest(acquire("tiny", source=other, cache_dir=tmp_path / "c2"), wh_b)
    split_b = make_split(wh_b, params)
    assert split_b.split_id != split_a.split_id  # other data, other split id
    build_features(wh_b, split_b.split_id)
    ua, ma = _features(wh_a, split_a.split_id)
    ub, mb = _features(wh_b, split_b.split_id)
    assert ua.equals(ub) and ma.equals(mb)


def test_split_protocols_are_repeatable_and_do_what_they_say(
    tiny_dir: Path, tmp_path: Path
) -> None:
    wh = tmp_path / "w.duckdb"
    ingest(acquire("tiny", source=tiny_dir, cache_dir=tmp_path / "c"), wh)
    r = make_split(wh, SplitParams(seed=1))
    assert r.counts["train"] + r.counts["val"] + r.counts["test"] == 1600
    assert 0.05 < r.counts["test"] / 1600 < 0.15
    assert make_split(wh, SplitParams(seed=1)).reused
    assert make_split(wh, SplitParams(seed=2)).split_id != r.split_id
    t = make_split(wh, SplitParams(protocol="temporal", val_fraction=0.1, test_fraction=0.2))
    s = make_split(wh, SplitParams(protocol="user_subgraph", n_users=10, seed=4))
    with duckdb.connect(str(wh), read_only=True) as con:
        train_max, held_min = con.execute(
            "SELECT max(ts) FILTER (part = 'train'), min(ts) FILTER (part <> 'train') FROM staging.split_ratings WHERE split_id = ?",
            [t.split_id],
        ).fetchall()[0]
        assert train_max <= held_min
        assert t.counts["test"] == 320 and t.counts["val"] == 160
        assert con.execute(
            "SELECT count(DISTINCT user_id) FROM staging.split_ratings WHERE split_id = ?",
            [s.split_id],
        ).fetchall() == [(10,)]
        # Cold-start flags agree with the counts.
        n_cold = con.execute(
            "SELECT count(DISTINCT movie_id) FROM staging.split_ratings WHERE split_id = ? AND cold_movie",
            [t.split_id],
        ).fetchall()[0][0]
        assert n_cold == t.counts["cold_movies"]
    from reelgraph.features.split import SplitError

    with pytest.raises(SplitError, match="val_fraction"):
        make_split(wh, SplitParams(val_fraction=0.6, test_fraction=0.5))
    with pytest.raises(SplitError, match="n_users"):
        make_split(wh, SplitParams(protocol="user_subgraph"))


def test_ml_latest_small_feature_shapes(tmp_path: Path) -> None:
    shared = Path(__file__).resolve().parents[2] / "shared" / "data" / "ml-latest-small"
    if not shared.is_dir():
        pytest.skip("no shared copy of ml-latest-small beside the project")
    wh = tmp_path / "w.duckdb"
    ingest(acquire("ml-latest-small", source=shared, cache_dir=tmp_path / "c"), wh)
    split = make_split(wh, SplitParams(seed=0))
    result = build_features(wh, split.split_id)
    assert (result.user_rows, result.user_dim) == (610 - split.counts["cold_users"], 34)
    assert result.movie_rows == 9742
    with duckdb.connect(str(wh), read_only=True) as con:
        for table in ("user_features", "movie_features"):
            cols = [
                c
                for c, t in con.execute(
                    f"SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = '{table}'"
                ).fetchall()
                if t == "DOUBLE"
            ]
            bad = con.execute(
                f"SELECT count(*) FROM features.{table} WHERE "
                + " OR ".join(f'NOT isfinite("{c}") OR "{c}" IS NULL' for c in cols)
            ).fetchall()
            assert bad == [(0,)]


def test_genres_spelled_two_ways_are_one_column() -> None:
    from reelgraph.features.tables import movie_features

    base = pl.DataFrame(
        {
            "movie_id": [1, 2, 3, 4],
            "year": [1999, 2000, None, 2001],
            "train_count": [3, 1, 0, 2],
            "mean_rating_shrunk": [3.5, 3.6, 3.5, 4.0],
            "genres": [
                "Comedy|Sci-Fi",
                " comedy |Sci Fi",
                "(no genres listed)",
                "COMEDY|Film-Noir",
            ],
        }
    )
    out = movie_features(base, None)
    genres = sorted(c for c in out.columns if c.startswith("genre_"))
    assert genres == ["genre_comedy", "genre_film_noir", "genre_sci_fi"]
    assert out["genre_comedy"].to_list() == [1.0, 1.0, 0.0, 1.0]
    assert out["genre_sci_fi"].to_list() == [1.0, 1.0, 0.0, 0.0]
