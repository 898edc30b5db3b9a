"""The explorer under hostile requests: bad numbers, big bodies, foreign Host headers, and
property-based fuzzing of every operation from its OpenAPI schema (no answer may be a 500)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from reelgraph.explorer.app import create_app

LOCAL = "http://127.0.0.1"


@pytest.fixture(scope="module")
def app(pipeline_run: dict):  # noqa: ANN201
    return create_app(pipeline_run["warehouse"], pipeline_run["outputs"], max_coldstart_ratings=50)


@pytest.fixture(scope="module")
def client(app) -> TestClient:  # noqa: ANN001
    return TestClient(app, base_url=LOCAL)


@pytest.mark.parametrize("rating", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_coldstart_refuses_non_finite_ratings(client: TestClient, rating: str) -> None:
    body = '{"ratings": [{"movie_id": 1, "rating": RATING}], "k": 5}'.replace("RATING", rating)
    r = client.post("/api/coldstart", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    assert "rating" in r.json()["detail"] and "\n" not in r.json()["detail"]


@pytest.mark.parametrize("query", ["min_score=nan", "min_score=inf", "genres=", "genres=,"])
def test_recommend_refuses_a_filter_that_means_nothing(client: TestClient, query: str) -> None:
    # NaN would match no movie and read as "nothing matches"; an empty genre list as no filter.
    r = client.get(f"/api/recommend?user=1&{query}")
    assert 400 <= r.status_code < 500, r.text
    assert "\n" not in r.json()["detail"]


def test_a_big_body_is_refused_by_its_length_before_it_is_read(client: TestClient) -> None:
    r = client.post(
        "/api/coldstart",
        content=b"{" + b" " * (1 << 20) + b"}",
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 413


def test_a_big_chunked_body_is_refused_while_it_streams(client: TestClient) -> None:
    def chunks():  # noqa: ANN202 - no Content-Length: sent chunked
        yield b'{"ratings": ['
        for _ in range(20_000):
            yield b'{"movie_id": 1, "rating": 4.0},'
        yield b'{"movie_id": 1, "rating": 4.0}]}'

    r = client.post(
        "/api/coldstart", content=chunks(), headers={"content-type": "application/json"}
    )
    assert r.status_code == 413


def test_too_many_coldstart_ratings(client: TestClient) -> None:
    body = {"ratings": [{"movie_id": m, "rating": 4.0} for m in range(1, 52)]}
    r = client.post("/api/coldstart", json=body)
    assert r.status_code == 422 and "at most 50" in r.json()["detail"]


@pytest.mark.parametrize("host", ["evil.example", "127.0.0.1.evil.example", "attacker:8765"])
def test_foreign_host_headers_are_refused(app, host: str) -> None:  # noqa: ANN001
    r = TestClient(app, base_url=f"http://{host}").get("/api/runs")
    assert r.status_code == 400


def test_local_host_headers_are_served(app) -> None:  # noqa: ANN001
    for base in ("http://127.0.0.1:8765", "http://localhost"):
        assert TestClient(app, base_url=base).get("/api/runs").status_code == 200


def test_fuzzing_every_operation_finds_no_server_error(app) -> None:  # noqa: ANN001
    """Bounded, derandomised property-based fuzzing from the OpenAPI schema (schemathesis +
    hypothesis): valid and invalid inputs for every operation; no answer may be a 500."""
    import hypothesis
    import schemathesis

    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app, headers={"Host": "127.0.0.1"})
    requests: list[tuple[str, int]] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in operations:
        for mode in schemathesis.GenerationMode:  # schema-valid inputs, then invalid ones

            @hypothesis.settings(
                max_examples=50,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=list(hypothesis.HealthCheck),
            )
            @hypothesis.given(case=operation.as_strategy(mode))
            def check(case) -> None:  # noqa: ANN001
                response = case.call(base_url=LOCAL)
                requests.append((case.operation.label, response.status_code))
                assert response.status_code < 500, case.as_curl_command()

            try:
                check()
            except hypothesis.errors.Unsatisfiable:
                assert mode is schemathesis.GenerationMode.NEGATIVE  # nothing to get wrong
    errors = [r for r in requests if r[1] >= 500]
    codes = sorted({c for _, c in requests})
    print(
        f"fuzzing: {len(requests)} requests over {len({r[0] for r in requests})} operations, answers {codes}"
    )
    assert len(requests) > 300 and not errors


def test_api_docs_load_nothing_from_the_internet(client: TestClient) -> None:
    page = client.get("/api/docs")
    assert page.status_code == 200
    assets = [
        a
        for a in ("swagger-ui-bundle.js", "swagger-ui.css")
        if f"/api/docs-assets/{a}" in page.text
    ]
    assert len(assets) == 2 and "cdn" not in page.text.lower()
    for a in assets:
        assert client.get(f"/api/docs-assets/{a}").status_code == 200
