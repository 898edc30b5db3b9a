from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from conftest import write_dataset

from reelgraph.ingest.datasets import acquire
from reelgraph.ingest.load import IngestError, ingest

MOVIES = 'movieId,title,genres\n1,Alpha (1999),Drama\n2,"Beta, The (2001)",Comedy|Drama\n3,Gamma,(no genres listed)\n'
RATINGS_HEADER = "userId,movieId,rating,timestamp\n"
GOOD_RATINGS = "1,1,4.0,964982703\n1,2,3.5,964982704\n2,1,5.0,964982705\n2,3,0.5,964982706\n"


def _load(folder: Path, wh: Path, **kw):
    return ingest(acquire("my-export", source=folder, cache_dir=folder.parent / "cache"), wh, **kw)


def _rows(wh: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(wh), read_only=True) as con:
        return con.execute(sql).fetchall()


@pytest.mark.parametrize(
    ("bad_line", "reason"),
    [
        ("x,1,4.0,964982703", "userId is not a positive integer"),
        ("0,1,4.0,964982703", "userId is not a positive integer"),
        ("3,-2,4.0,964982703", "movieId is not a positive integer"),
        ("3,1,4.2,964982703", "rating is not one of"),
        ("3,1,0.0,964982703", "rating is not one of"),
        ("3,1,5.5,964982703", "rating is not one of"),
        ("3,1,,964982703", "rating is not one of"),
        ("3,1,4.0,yesterday", "timestamp is not a Unix time"),
        ("3,1,4.0,1700000000000", "timestamp is not a Unix time"),
        ("3,99,4.0,964982703", "movieId is not in movies.csv"),
        ("1,2,1.0,964982799", "duplicate (user_id, movie_id)"),
    ],
)
def test_each_rating_rule_rejects_its_row_with_file_line_and_reason(
    tmp_path: Path, bad_line: str, reason: str
) -> None:
    folder = write_dataset(
        tmp_path / "d", movies=MOVIES, ratings=RATINGS_HEADER + GOOD_RATINGS + bad_line + "\n"
    )
    wh = tmp_path / "w.duckdb"
    result = _load(folder, wh, max_reject_fraction=0.5)
    assert result.row_counts["raw.ratings"] == 4
    rejects = _rows(wh, "SELECT file, line, reason, raw FROM ops.ingest_rejects")
    assert len(rejects) == 1
    file, line, why, raw = rejects[0]
    assert (file, line) == (
        "ratings.csv",
        6,
    )  # header is line 1, the bad row comes after 4 good ones
    assert why.startswith(reason)
    assert raw.split(",")[:2] == bad_line.split(",")[:2]
    # The first occurrence of a duplicate pair is the one kept.
    assert _rows(wh, "SELECT rating FROM raw.ratings WHERE user_id = 1 AND movie_id = 2") == [
        (3.5,)
    ]


@pytest.mark.parametrize(
    ("files", "file", "reason"),
    [
        ({"movies": MOVIES + "3,Gamma again (2002),Drama\n"}, "movies.csv", "duplicate (movie_id)"),
        ({"movies": MOVIES + "4,,Drama\n"}, "movies.csv", "title is empty"),
        (
            {"movies": MOVIES + "x5,Delta (1990),Drama\n"},
            "movies.csv",
            "movieId is not a positive integer",
        ),
        (
            {"tags": "userId,movieId,tag,timestamp\n1,1,funny,964982703\n1,1,,964982703\n"},
            "tags.csv",
            "tag is empty",
        ),
        (
            {"tags": "userId,movieId,tag,timestamp\n1,1,funny,964982703\n1,77,dull,964982703\n"},
            "tags.csv",
            "movieId is not in movies.csv",
        ),
        (
            {"links": "movieId,imdbId,tmdbId\n1,0114709,862\n2,tt0113497,8844\n"},
            "links.csv",
            "imdbId is not a number",
        ),
        (
            {"links": "movieId,imdbId,tmdbId\n1,0114709,862\n2,0113497,abc\n"},
            "links.csv",
            "tmdbId is neither",
        ),
        (
            {
                "genome_tags": "tagId,tag\n1,funny\n2,dark\n",
                "genome_scores": "movieId,tagId,relevance\n1,1,0.5\n1,2,1.5\n",
            },
            "genome-scores.csv",
            "relevance is not a number in [0, 1]",
        ),
        (
            {
                "genome_tags": "tagId,tag\n1,funny\n2,dark\n",
                "genome_scores": "movieId,tagId,relevance\n1,1,0.5\n1,3,0.5\n",
            },
            "genome-scores.csv",
            "tagId is not in genome-tags.csv",
        ),
        (
            {
                "genome_tags": "tagId,tag\n1,funny\n2,dark\n",
                "genome_scores": "movieId,tagId,relevance\n1,1,0.5\n1,1,0.6\n",
            },
            "genome-scores.csv",
            "duplicate (movie_id, tag_id)",
        ),
    ],
)
def test_rules_of_the_other_files(
    tmp_path: Path, files: dict[str, str], file: str, reason: str
) -> None:
    folder = write_dataset(
        tmp_path / "d", **{"movies": MOVIES, "ratings": RATINGS_HEADER + GOOD_RATINGS, **files}
    )
    wh = tmp_path / "w.duckdb"
    _load(folder, wh, max_reject_fraction=0.6)
    rejects = _rows(wh, "SELECT file, reason FROM ops.ingest_rejects")
    assert len(rejects) == 1 and rejects[0][0] == file and rejects[0][1].startswith(reason), rejects


def test_links_keep_imdb_leading_zeros_and_allow_missing_tmdb(tmp_path: Path) -> None:
    folder = write_dataset(
        tmp_path / "d",
        movies=MOVIES,
        ratings=RATINGS_HEADER + GOOD_RATINGS,
        links="movieId,imdbId,tmdbId\n1,0114709,862\n2,0113497,\n",
    )
    wh = tmp_path / "w.duckdb"
    _load(folder, wh)
    assert _rows(wh, "SELECT movie_id, imdb_id, tmdb_id FROM raw.links ORDER BY 1") == [
        (1, "0114709", 862),
        (2, "0113497", None),
    ]


def test_too_many_rejects_fail_and_change_nothing(tmp_path: Path) -> None:
    wh = tmp_path / "w.duckdb"
    good = write_dataset(tmp_path / "good", movies=MOVIES, ratings=RATINGS_HEADER + GOOD_RATINGS)
    _load(good, wh)
    bad = write_dataset(
        tmp_path / "bad", movies=MOVIES, ratings=RATINGS_HEADER + "1,1,9.0,1\n1,2,4.0,2\n"
    )
    with pytest.raises(IngestError, match=r"ratings.csv: 1 of 2 rows rejected .* line 2: rating"):
        _load(bad, wh, max_reject_fraction=0.1)
    assert _rows(wh, "SELECT count(*) FROM raw.ratings") == [(4,)]
    assert _rows(wh, "SELECT status FROM ops.ingests ORDER BY ingest_id") == [
        ("succeeded",),
        ("failed",),
    ]


def test_failure_midway_through_the_load_rolls_back_every_table(
    tiny_dir: Path, tmp_path: Path
) -> None:
    wh = tmp_path / "w.duckdb"
    first = write_dataset(tmp_path / "first", movies=MOVIES, ratings=RATINGS_HEADER + GOOD_RATINGS)
    _load(first, wh)
    before = {
        t: _rows(wh, f"SELECT * FROM raw.{t} ORDER BY ALL")
        for t in ("movies", "ratings", "genome_scores")
    }

    def crash(con: duckdb.DuckDBPyConnection) -> None:
        # By now every raw table holds the new data inside the open transaction.
        assert con.execute("SELECT count(*) FROM raw.ratings").fetchone()[0] == 1600
        raise RuntimeError("disk full (simulated)")

    with pytest.raises(RuntimeError, match="simulated"):
        _load(tiny_dir, wh, _before_commit=crash)
    after = {
        t: _rows(wh, f"SELECT * FROM raw.{t} ORDER BY ALL")
        for t in ("movies", "ratings", "genome_scores")
    }
    assert after == before
    assert _rows(wh, "SELECT count(*) FROM ops.ingests") == [(1,)]


def test_missing_optional_files_are_recorded_and_required_ones_are_errors(tmp_path: Path) -> None:
    folder = write_dataset(tmp_path / "d", movies=MOVIES, ratings=RATINGS_HEADER + GOOD_RATINGS)
    wh = tmp_path / "w.duckdb"
    result = _load(folder, wh)
    assert set(result.missing_files) == {
        "tags.csv",
        "links.csv",
        "genome-tags.csv",
        "genome-scores.csv",
    }
    assert _rows(wh, "SELECT count(*) FROM raw.genome_scores") == [(0,)]  # present, empty
    (folder / "movies.csv").unlink()
    from reelgraph.ingest.datasets import DatasetError

    with pytest.raises(DatasetError, match="missing required file"):
        _load(folder, wh)


def test_wrong_header_names_the_file(tmp_path: Path) -> None:
    folder = write_dataset(
        tmp_path / "d", movies=MOVIES, ratings="user,movie,stars,when\n1,1,4.0,1\n"
    )
    with pytest.raises(
        IngestError, match=r"ratings.csv: header is .*expected 'userId,movieId,rating,timestamp'"
    ):
        _load(folder, tmp_path / "w.duckdb")


def test_malformed_csv_names_the_file(tmp_path: Path) -> None:
    folder = write_dataset(
        tmp_path / "d", movies=MOVIES, ratings=RATINGS_HEADER + "1,1,4.0,1,extra,fields\n"
    )
    with pytest.raises(IngestError, match="ratings.csv: not a well-formed CSV"):
        _load(folder, tmp_path / "w.duckdb")


def test_same_data_twice_is_skipped_and_force_reloads(tiny_dir: Path, tmp_path: Path) -> None:
    wh = tmp_path / "w.duckdb"
    first = _load(tiny_dir, wh)
    assert not first.skipped and first.row_counts["raw.ratings"] == 1600
    assert first.rejected_rows == dict.fromkeys(first.rejected_rows, 0)
    second = _load(tiny_dir, wh)
    assert second.skipped and second.ingest_id == first.ingest_id
    third = _load(tiny_dir, wh, force=True)
    assert not third.skipped and third.ingest_id > first.ingest_id
    assert _rows(wh, "SELECT count(*) FROM raw.genome_scores") == [(60 * 24,)]


def test_a_byte_order_mark_is_not_part_of_the_header(tmp_path: Path) -> None:
    # Excel's "CSV UTF-8" starts the file with U+FEFF.
    folder = write_dataset(
        tmp_path / "d", movies="\ufeff" + MOVIES, ratings="\ufeff" + RATINGS_HEADER + "1,1,4.0,1\n"
    )
    wh = tmp_path / "w.duckdb"
    result = _load(folder, wh)
    assert result.row_counts["raw.movies"] == 3 and result.row_counts["raw.ratings"] == 1
    assert _rows(wh, "SELECT min(movie_id), min(user_id) FROM raw.ratings") == [(1, 1)]


def test_genre_names_are_stored_trimmed(tmp_path: Path) -> None:
    movies = "movieId,title,genres\n402,Spaces (1999),Science Fiction| Comedy |Film-Noir\n"
    folder = write_dataset(tmp_path / "d", movies=movies, ratings=RATINGS_HEADER + "1,402,4.0,1\n")
    wh = tmp_path / "w.duckdb"
    _load(folder, wh)
    assert _rows(wh, "SELECT genres FROM raw.movies") == [("Science Fiction|Comedy|Film-Noir",)]
