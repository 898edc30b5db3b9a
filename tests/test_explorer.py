from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from reelgraph.explorer.app import create_app


@pytest.fixture(scope="module")
def client(pipeline_run: dict) -> TestClient:
    return TestClient(
        create_app(pipeline_run["warehouse"], pipeline_run["outputs"]), base_url="http://127.0.0.1"
    )


def test_page_and_static_files(client: TestClient) -> None:
    assert "reelgraph explorer" in client.get("/").text
    assert client.get("/static/app.js").status_code == 200
    assert client.get("/static/../../app.py").status_code == 404


def test_runs_metrics_card_and_figures(client: TestClient, pipeline_run: dict) -> None:
    run = pipeline_run["result"]["run_id"]
    runs = client.get("/api/runs").json()
    assert runs[0]["run_id"] == run and runs[0]["latest"]
    metrics = client.get(f"/api/runs/{run}/metrics").json()
    assert {m["model"] for m in metrics} >= {"graphsage", "ease", "popularity"}
    assert "Model card" in client.get(f"/api/runs/{run}/model_card").text
    figures = client.get(f"/api/runs/{run}/figures").json()
    assert len(figures) == 5
    png = client.get(f"/api/runs/{run}/figures/{figures[0]}")
    assert png.status_code == 200 and png.content[:4] == b"\x89PNG"
    assert client.get(f"/api/runs/{run}/figures/..%2Fmodel.pt").status_code in (400, 404)
    assert client.get("/api/runs/nope/metrics").status_code == 404


def test_year_bounds_are_the_catalogues(client: TestClient, pipeline_run: dict) -> None:
    import duckdb

    span = client.get("/api/years").json()
    with duckdb.connect(str(pipeline_run["warehouse"]), read_only=True) as con:
        years = [
            int(y)
            for (title,) in con.execute("SELECT title FROM raw.movies").fetchall()
            for y in [title.rstrip()[-5:-1]]
            if title.rstrip().endswith(")") and y.isdigit()
        ]
    assert (span["min"], span["max"]) == (min(years), max(years))


def test_recommend_with_filters_and_least(client: TestClient) -> None:
    r = client.get(
        "/api/recommend", params={"user": 1, "genres": "Drama", "years": "1960:2010", "k": 3}
    )
    body = r.json()
    assert r.status_code == 200 and 0 < len(body["items"]) <= 3
    assert all("Drama" in it["genres"] and 1960 <= it["year"] <= 2010 for it in body["items"])
    least = client.get("/api/recommend", params={"user": 1, "least": True, "k": 3}).json()["items"]
    assert least[0]["score"] <= least[-1]["score"]


@pytest.mark.parametrize(
    ("params", "status", "message"),
    [
        ({"user": 999999}, 404, "unknown user"),
        ({"user": 1, "genres": "Comedyy"}, 400, "unknown genre"),
        ({"user": 1, "years": "2010:1990"}, 400, "after"),
        ({"user": 1, "years": "abc"}, 400, "bad year range"),
        ({"user": "x"}, 422, None),
        ({"user": 1, "k": 0}, 422, None),
        ({"user": 1, "run": "bad run!"}, 400, "bad run id"),
    ],
)
def test_bad_recommend_input_is_a_4xx_with_a_message(
    client: TestClient, params: dict, status: int, message: str | None
) -> None:
    r = client.get("/api/recommend", params=params)
    assert r.status_code == status
    if message:
        assert message in r.json()["detail"]


def test_users_genres_and_movie_search(client: TestClient) -> None:
    assert 1 in client.get("/api/users", params={"q": "1"}).json()
    assert client.get("/api/users", params={"q": "abc"}).status_code == 422
    genres = client.get("/api/genres").json()
    assert "Drama" in genres and "(no genres listed)" not in genres
    hits = client.get("/api/movies", params={"q": "Love"}).json()
    assert hits and all("love" in h["title"].lower() for h in hits)
    assert client.get("/api/movies", params={"q": "L"}).status_code == 422


def test_cold_start_recommends_without_retraining(client: TestClient) -> None:
    movies = client.get("/api/movies", params={"q": "Love", "limit": 3}).json()
    body = {"ratings": [{"movie_id": m["movie_id"], "rating": 5.0} for m in movies], "k": 5}
    r = client.post("/api/coldstart", json=body)
    items = r.json()["items"]
    assert r.status_code == 200 and len(items) == 5
    assert not {i["movie_id"] for i in items} & {m["movie_id"] for m in movies}
    assert (
        client.post(
            "/api/coldstart", json={"ratings": [{"movie_id": 999999999, "rating": 4}]}
        ).status_code
        == 400
    )
    assert (
        client.post("/api/coldstart", json={"ratings": [{"movie_id": 1, "rating": 9}]}).status_code
        == 422
    )
    assert client.post("/api/coldstart", json={"ratings": []}).status_code == 422
