"""Data drift on ingest (issue 33): each ingest's profile in ops.ingest_profile; a shifted export
warns (line and `data-drift` artifact) or, with --max-drift, is refused with nothing changed."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest

from reelgraph.core.errors import IngestError
from reelgraph.ingest import profile
from reelgraph.ingest.datasets import acquire
from reelgraph.ingest.load import ingest


def test_profile_of_a_hand_made_file() -> None:
    t0 = dt.datetime(2020, 1, 1)
    frame = pl.DataFrame(
        {
            "user_id": [1, 1, 1, 2],
            "movie_id": [10, 20, 30, 10],
            "rating": [4.0, 3.5, 5.0, 0.5],
            "ts": [t0, t0, t0 + dt.timedelta(days=2), t0 + dt.timedelta(days=1)],
        }
    )
    p = profile.profile(frame)
    assert p["rows"] == 4 and p["users"] == 2 and p["movies"] == 3
    assert p["rating_mean"] == pytest.approx(13.0 / 4)
    assert p["rating_histogram"]["4"] == 1 and p["rating_histogram"]["0.5"] == 1
    assert sum(p["rating_histogram"].values()) == 4 and len(p["rating_histogram"]) == 10
    assert (p["per_user_p10"], p["per_user_p90"]) == (1.0, 3.0)
    assert p["per_movie_p50"] == 1.0 and p["per_movie_p90"] == 2.0
    assert p["first_at"] == str(t0) and p["last_at"] == str(t0 + dt.timedelta(days=2))
    assert profile.profile(pl.DataFrame({"movie_id": [1, 2]})) == {"rows": 2}


def test_drift_bounds() -> None:
    old = {"ratings.csv": {"rows": 100, "users": 10, "movies": 50, "rating_mean": 3.5}}
    same = {"ratings.csv": {"rows": 120, "users": 9, "movies": 55, "rating_mean": 3.6}}
    assert profile.drift(old, same) == []
    moved = {"ratings.csv": {"rows": 100, "users": 4, "movies": 50, "rating_mean": 3.8}}
    assert [d["figure"] for d in profile.drift(old, moved)] == ["rating_mean", "users"]
    assert profile.drift({}, moved) == []  # nothing to compare a first ingest with


def _shifted(tiny_dir: Path, folder: Path) -> Path:
    """The tiny export with every rating one star higher (at most 5): its mean moves by ~0.9."""
    shutil.copytree(tiny_dir, folder)
    with open(tiny_dir / "ratings.csv") as f:
        rows = list(csv.reader(f))
    with open(folder / "ratings.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(rows[0])
        for u, m, r, t in rows[1:]:
            w.writerow([u, m, f"{min(float(r) + 1.0, 5.0):g}", t])
    return folder


def _state(wh: Path) -> str:
    """A hash of the raw tables and the profiles."""
    h = hashlib.sha256()
    with duckdb.connect(str(wh), read_only=True) as con:
        for table in ("raw.ratings", "raw.movies", "ops.ingest_profile"):
            h.update(repr(con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()).encode())
    return h.hexdigest()


def _ingest(folder: Path, wh: Path, **kw: object):  # noqa: ANN202
    return ingest(acquire("tiny", source=folder, cache_dir=wh.parent / "cache"), wh, **kw)


def test_a_shifted_export_warns_and_max_drift_refuses_it_changing_nothing(
    tiny_dir: Path, tmp_path: Path
) -> None:
    wh = tmp_path / "w.duckdb"
    first = _ingest(tiny_dir, wh)
    assert first.drift == [] and first.drift_against is None
    with duckdb.connect(str(wh), read_only=True) as con:
        rows = con.execute(
            "SELECT file, rows, users, rating_mean FROM ops.ingest_profile ORDER BY file"
        ).fetchall()
        (n_ratings,) = con.execute("SELECT count(*) FROM raw.ratings").fetchone()
    ratings = next(r for r in rows if r[0] == "ratings.csv")
    assert ratings[1] == n_ratings and ratings[2] > 0 and 0.5 <= ratings[3] <= 5.0

    shifted = _shifted(tiny_dir, tmp_path / "shifted")
    before = _state(wh)
    with pytest.raises(IngestError) as refused:
        _ingest(shifted, wh, max_drift=True)
    message = str(refused.value)
    assert "\n" not in message and "ratings.csv: rating_mean" in message
    assert "refused by --max-drift, nothing was ingested" in message
    assert _state(wh) == before

    second = _ingest(shifted, wh)
    assert second.drift_against == first.ingest_id
    assert [d["figure"] for d in second.drift] == ["rating_mean"]
    assert second.drift[0]["new"] - second.drift[0]["old"] > 0.5
    assert _state(wh) != before


@pytest.mark.slow
def test_the_ingest_flow_puts_a_data_drift_artifact_on_its_page(
    tiny_dir: Path, tmp_path: Path
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.testing.utilities import prefect_test_harness

    from flows.ingest_flow import ingest_flow

    wh = str(tmp_path / "w.duckdb")
    shifted = _shifted(tiny_dir, tmp_path / "shifted")
    with prefect_test_harness(server_startup_timeout=120):
        ingest_flow(dataset="tiny", source=str(tiny_dir), warehouse=wh)
        result = ingest_flow(dataset="tiny", source=str(shifted), warehouse=wh)
        with get_client(sync_client=True) as client:
            found = client.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["data-drift"]))
            )
    assert result["drift"] and len(found) == 1
    assert "| ratings.csv | rating_mean |" in found[0].data
