"""The web explorer: a FastAPI app over the read API, plus one static page (no build step).

Requests share one read-only connection (a cursor each), which is given back when idle or as
soon as a flow waits to write (warehouse.connection.SharedReadConnection); meanwhile requests
open their own connections and wait out the flow's short write lock, so the explorer keeps
answering while a flow publishes.
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Annotated

import numpy as np
from fastapi import Body, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse
from pydantic import BaseModel, Field
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reelgraph.conventions import RATING_MAX, RATING_MIN
from reelgraph.errors import ReelgraphError
from reelgraph.run_layout import RunLayout
from warehouse import WarehouseError
from warehouse.connection import SharedReadConnection
from warehouse.read import Reader, ReadError, RecommendQuery, parse_years

STATIC = Path(__file__).parent / "static"
RUN_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,80}$")
FIGURE = re.compile(r"^[A-Za-z0-9_-]{1,80}\.png$")


# Limits a user can set (`reelgraph explore --max-body-kb / --max-coldstart-ratings`).
DEFAULT_MAX_BODY_BYTES = 64 * 1024  # a cold start of 1,000 ratings is about 40 KB
DEFAULT_MAX_COLDSTART_RATINGS = 1000
# Host headers answered by default: a page on another site that rebinds its DNS name to
# 127.0.0.1 sends its own name, and is refused.
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")


class Rated(BaseModel):
    movie_id: int = Field(gt=0, lt=2**31)
    rating: float = Field(ge=RATING_MIN, le=RATING_MAX, allow_inf_nan=False)


class ColdStart(BaseModel):
    ratings: list[Rated] = Field(min_length=1)
    k: int = Field(default=10, ge=1, le=100)
    run: str | None = Field(default=None, max_length=80)


def create_app(
    warehouse: str | Path,
    outputs: str | Path,
    default_run: str | None = None,
    *,
    allowed_hosts: Sequence[str] = LOCAL_HOSTS,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    max_coldstart_ratings: int = DEFAULT_MAX_COLDSTART_RATINGS,
) -> FastAPI:
    app = FastAPI(title="reelgraph explorer", docs_url=None, openapi_url="/api/openapi.json")
    _serve_docs_offline(app)
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))

    @app.exception_handler(RequestValidationError)
    def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        # One line per problem, without echoing the input (a NaN in it cannot even be JSON).
        return JSONResponse({"detail": validation_message(exc)}, status_code=422)

    warehouse, outputs = Path(warehouse), Path(outputs)
    scorers: dict[str, object] = {}
    lock = threading.Lock()
    shared = SharedReadConnection(warehouse, timeout_s=10)
    app.state.connection = shared

    @contextlib.contextmanager
    def reader() -> Iterator[Reader]:
        with contextlib.ExitStack() as stack:
            try:
                con = stack.enter_context(shared.cursor())
            except WarehouseError as exc:
                raise HTTPException(503, str(exc)) from exc
            yield Reader(warehouse, con=con)

    def run_or_default(run: str | None) -> str | None:
        run = run or default_run
        if run is not None and not RUN_ID.match(run):
            raise HTTPException(400, f"bad run id {run!r}")
        return run

    def answer(fn):  # noqa: ANN001, ANN202 - maps our one-line errors to 4xx
        @functools.wraps(fn)
        def wrapped(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            try:
                return fn(*args, **kwargs)
            except ReadError as exc:
                code = (
                    404
                    if str(exc).startswith(("unknown run", "unknown user", "unknown movie"))
                    else 400
                )
                raise HTTPException(code, str(exc)) from exc
            except ReelgraphError as exc:
                raise HTTPException(400, str(exc)) from exc

        return wrapped

    @app.get("/", response_class=HTMLResponse)
    def index() -> str:
        return (STATIC / "index.html").read_text()

    @app.get("/static/{name}")
    def static(name: str) -> FileResponse:
        if name not in {"app.js", "style.css"}:
            raise HTTPException(404, "no such file")
        return FileResponse(STATIC / name)

    @app.get("/api/runs")
    @answer
    def runs() -> list[dict]:
        with reader() as r:
            return r.runs()

    @app.get("/api/runs/{run_id}/metrics")
    @answer
    def metrics(run_id: str) -> list[dict]:
        with reader() as r:
            return r.metrics(run_or_default(run_id))

    @app.get("/api/runs/{run_id}/model_card", response_class=PlainTextResponse)
    @answer
    def model_card(run_id: str) -> str:
        with reader() as r:
            run = r.resolve_run(run_or_default(run_id))
        path = RunLayout.of(outputs, run).model_card
        if not path.is_file():
            raise HTTPException(404, f"run {run} has no model card in {outputs}")
        return path.read_text()

    @app.get("/api/runs/{run_id}/figures")
    @answer
    def figure_list(run_id: str) -> list[str]:
        with reader() as r:
            run = r.resolve_run(run_or_default(run_id))
        folder = RunLayout.of(outputs, run).figures
        return sorted(p.name for p in folder.glob("*.png")) if folder.is_dir() else []

    @app.get("/api/runs/{run_id}/figures/{name}")
    @answer
    def figure(run_id: str, name: str) -> FileResponse:
        if not FIGURE.match(name):
            raise HTTPException(400, f"bad figure name {name!r}")
        with reader() as r:
            run = r.resolve_run(run_or_default(run_id))
        path = RunLayout.of(outputs, run).figures / name
        if not path.is_file():
            raise HTTPException(404, f"run {run} has no figure {name}")
        return FileResponse(path, media_type="image/png")

    @app.get("/api/genres")
    @answer
    def genres() -> list[str]:
        with reader() as r:
            return r.genres()

    @app.get("/api/years")
    @answer
    def years() -> dict:
        """The catalogue's year bounds, for the page's year range slider."""
        with reader() as r:
            first, last = r.year_range()
        return {"min": first, "max": last}

    @app.get("/api/users")
    @answer
    def users(
        q: Annotated[str, Query(max_length=12, pattern=r"^\d*$")] = "",
        run: str | None = None,
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
    ) -> list[int]:
        with reader() as r:
            run_id = r.resolve_run(run_or_default(run))
            rows = r.con.execute(
                """SELECT user_id FROM marts.user_embeddings WHERE run_id = ? AND CAST(user_id AS VARCHAR) LIKE ? || '%'
                   ORDER BY user_id LIMIT ?""",
                [run_id, q, limit],
            ).fetchall()
        return [u for (u,) in rows]

    @app.get("/api/movies")
    @answer
    def movies(
        q: Annotated[str, Query(min_length=2, max_length=80)],
        limit: Annotated[int, Query(ge=1, le=50)] = 15,
    ) -> list[dict]:
        with reader() as r:
            cur = r.con.execute(
                """SELECT movie_id, title, genres, movie_year(title) AS year FROM raw.movies
                   WHERE title ILIKE '%' || ? || '%' ORDER BY length(title), movie_id LIMIT ?""",
                [q, limit],
            )
            return [
                dict(zip(("movie_id", "title", "genres", "year"), row, strict=True))
                for row in cur.fetchall()
            ]

    @app.get("/api/recommend")
    @answer
    def recommend(
        user: Annotated[int, Query(gt=0, lt=2**31)],
        genres: Annotated[str | None, Query(max_length=300)] = None,
        years: Annotated[str | None, Query(max_length=20)] = None,
        min_score: float | None = None,
        k: Annotated[int, Query(ge=1, le=100)] = 10,
        least: bool = False,
        run: str | None = None,
    ) -> dict:
        year_from, year_to = parse_years(years)
        g = tuple(x.strip() for x in genres.split(",") if x.strip()) if genres else ()
        q = RecommendQuery(user, g, year_from, year_to, min_score, k, least, run_or_default(run))
        with reader() as r:
            run_id = r.resolve_run(q.run_id)
            return {"run_id": run_id, "user": user, "items": r.recommend(q)}

    @app.post("/api/coldstart")
    @answer
    def coldstart(body: Annotated[ColdStart, Body()]) -> dict:
        if len(body.ratings) > max_coldstart_ratings:
            raise HTTPException(
                422,
                f"at most {max_coldstart_ratings} ratings per cold start, got {len(body.ratings)}",
            )
        with reader() as r:
            run_id = r.resolve_run(run_or_default(body.run))
            params = json.loads(
                r.con.execute("SELECT params FROM ops.runs WHERE run_id = ?", [run_id]).fetchall()[
                    0
                ][0]
            )
            with lock:
                scorer = scorers.get(run_id) or _load_scorer(
                    RunLayout.of(outputs, run_id).model, params.get("graph_path")
                )
                scorers[run_id] = scorer
            g = scorer.graph
            ids = np.array([x.movie_id for x in body.ratings])
            pos = np.searchsorted(g.movie_ids.numpy(), ids)
            known = (pos < g.n_movies) & (
                g.movie_ids.numpy()[np.minimum(pos, g.n_movies - 1)] == ids
            )
            if not known.all():
                raise HTTPException(
                    400, f"unknown movie id(s) {ids[~known].tolist()} for run {run_id}"
                )
            scores = scorer.score_new_user(pos, np.array([x.rating for x in body.ratings]))
            rank = scores.scores.copy()
            rank[pos] = -np.inf  # never recommend what they just rated
            top = np.argsort(-rank, kind="stable")[: body.k]
            top_ids = g.movie_ids.numpy()[top].tolist()
            titles = dict(
                r.con.execute(
                    "SELECT movie_id, title FROM raw.movies WHERE list_contains(?, movie_id)",
                    [top_ids],
                ).fetchall()
            )
        items = [
            {
                "rank": i + 1,
                "movie_id": m,
                "title": titles.get(m, str(m)),
                "score": float(scores.scores[t]),
                "predicted_rating": float(scores.ratings[t]),
            }
            for i, (m, t) in enumerate(zip(top_ids, top, strict=True))
        ]
        return {"run_id": run_id, "items": items}

    return app


def _serve_docs_offline(app: FastAPI) -> None:
    """/api/docs with Swagger UI's files served by the explorer itself (FastAPI's default page
    loads them from a CDN, which shows a blank page offline)."""
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.staticfiles import StaticFiles
    from swagger_ui_bundle import swagger_ui_path

    app.mount("/api/docs-assets", StaticFiles(directory=swagger_ui_path), name="docs-assets")

    @app.get("/api/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/api/openapi.json",
            title="reelgraph explorer API",
            swagger_js_url="/api/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/api/docs-assets/swagger-ui.css",
            swagger_favicon_url="/api/docs-assets/favicon-32x32.png",
        )


def validation_message(exc: RequestValidationError) -> str:
    """'body.ratings.0.rating: Input should be less than or equal to 5; ...' in one line."""
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(x) for x in err.get("loc", ()))
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


class BodyLimit:
    """Refuses a request body over `max_bytes` with 413: by its Content-Length before reading
    it, or, for a chunked body, as soon as the bytes read pass the limit (the body is read here,
    at most max_bytes of it, and handed on). A 32 MB body used to be read and parsed in full
    while other requests waited."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers", ())).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            await self._too_large(scope, receive, send)
            return
        body: list[Message] = []
        seen = 0
        while True:
            message = await receive()
            body.append(message)
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                await self._too_large(scope, receive, send)
                return
            if message["type"] != "http.request" or not message.get("more_body", False):
                break

        async def replay() -> Message:
            return body.pop(0) if body else await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = JSONResponse(
            {"detail": f"request body over {self.max_bytes} bytes; send fewer ratings"},
            status_code=413,
        )
        await response(scope, receive, send)


def _load_scorer(model_path: Path, graph_path: str | None):  # noqa: ANN202 - reelgraph.scoring.Scorer
    from reelgraph.graph import RatingGraph
    from reelgraph.scoring import Scorer

    if not model_path.is_file() or not graph_path or not Path(graph_path).is_file():
        raise HTTPException(
            409, "this run's model or graph files are gone (pruned?); pick a newer run"
        )
    return Scorer.load(model_path, RatingGraph.load(graph_path), "cpu")
