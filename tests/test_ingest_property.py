"""Ingest over generated messy exports (issue 34): byte-order marks, CRLF line ends, spaces around
fields and genre names, titles quoted over commas, quotes and newlines, stray bad rows. Never a
traceback: every data row is either loaded or refused with a reason, or the whole ingest is
refused in one line with nothing changed."""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reelgraph.ingest.datasets import acquire
from reelgraph.ingest.load import IngestError, ingest

GENRES = [
    "Comedy",
    " Comedy ",
    "comedy",
    "Sci-Fi",
    "Sci Fi",
    "Drama",
    "Film-Noir",
    "(no genres listed)",
]
TITLE_TEXT = st.text(
    alphabet=st.sampled_from(list("abc XYZ,\"'\n\t()-é")), min_size=1, max_size=20
).filter(lambda t: t.strip())

movie = st.tuples(
    TITLE_TEXT, st.integers(1900, 2030), st.lists(st.sampled_from(GENRES), min_size=1, max_size=3)
)


def _csv(rows: list[list[str]], crlf: bool, bom: bool, pad: bool) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n" if crlf else "\n").writerows(rows)
    text = out.getvalue()
    if pad:  # spaces around the unquoted fields of each line (a hand-edited file)
        text = text.replace(",", " , ").replace(' , "', ',"').replace('" , ', '",')
    return (b"\xef\xbb\xbf" if bom else b"") + text.encode()


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    movies=st.lists(movie, min_size=1, max_size=8),
    ratings=st.lists(
        st.tuples(
            st.integers(1, 5),
            st.integers(1, 10),
            st.sampled_from(["4.0", "3.5", " 5 ", "x", "9", ""]),
        ),
        min_size=0,
        max_size=15,
    ),
    crlf=st.booleans(),
    bom=st.booleans(),
    pad=st.booleans(),
)
def test_messy_exports_load_or_refuse_each_row(
    movies: list, ratings: list, crlf: bool, bom: bool, pad: bool
) -> None:
    movie_rows = [
        [str(i + 1), f"{title} ({year})", "|".join(genres)]
        for i, (title, year, genres) in enumerate(movies)
    ]
    rating_rows = [[str(u), str(m), r, "1600000000"] for u, m, r in ratings]
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        (src / "movies.csv").write_bytes(
            _csv([["movieId", "title", "genres"], *movie_rows], crlf, bom, pad)
        )
        (src / "ratings.csv").write_bytes(
            _csv([["userId", "movieId", "rating", "timestamp"], *rating_rows], crlf, bom, pad)
        )
        try:
            result = ingest(
                acquire("messy", source=src, cache_dir=Path(tmp) / "cache"),
                Path(tmp) / "w.duckdb",
                max_reject_fraction=1.0,
            )
        except IngestError as exc:  # refused whole (no valid row at all): one line, a reason
            assert len(str(exc).splitlines()) == 1 and "csv" in str(exc)
            return
        counts, rejected = result.row_counts, result.rejected_rows
        assert counts["raw.movies"] + rejected["movies.csv"] == len(movie_rows)
        assert counts["raw.ratings"] + rejected["ratings.csv"] == len(rating_rows)
