"""The explorer's routes, by what they serve: the page, published runs (metrics, model card,
figures), the catalogue (genres, years, users, movies search) and lists (recommend, cold start).
Each group is an APIRouter over one ExplorerContext; reelgraph.explorer.app assembles them."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import numpy as np
from fastapi import APIRouter, Body, HTTPException, Query
from fastapi.responses import FileResponse, HTMLResponse, PlainTextResponse
from pydantic import BaseModel, Field, field_validator

from reelgraph.core.conventions import RATING_MAX, RATING_MIN
from reelgraph.core.errors import ReelgraphError
from reelgraph.core.run_layout import RunLayout
from warehouse import WarehouseError
from warehouse.connection import SharedReadConnection
from warehouse.read import Reader, ReadError, RecommendQuery, parse_genres, parse_years
from warehouse.run_vectors import run_files

STATIC = Path(__file__).parent / "static"
RUN_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,80}$")
FIGURE = re.compile(r"^[A-Za-z0-9_-]{1,80}\.png$")


class Rated(BaseModel):
    movie_id: int = Field(gt=0, lt=2**31)
    rating: float = Field(ge=RATING_MIN, le=RATING_MAX, allow_inf_nan=False)


class ColdStart(BaseModel):
    ratings: list[Rated] = Field(min_length=1)
    k: int = Field(default=10, ge=1, le=100, description="list length, 1-100")
    run: str | None = Field(default=None, max_length=80)

    @field_validator("ratings")
    @classmethod
    def one_rating_per_movie(cls, ratings: list[Rated]) -> list[Rated]:
        seen: set[int] = set()
        twice = sorted({r.movie_id for r in ratings if r.movie_id in seen or seen.add(r.movie_id)})
        if twice:
            raise ValueError(f"movie(s) {twice} rated more than once; give each movie one rating")
        return ratings


@dataclasses.dataclass
class ExplorerContext:
    """What every route shares: the warehouse (one read-only connection), the outputs folder,
    the run shown by default, and the models loaded for cold start."""

    warehouse: Path
    outputs: Path
    default_run: str | None
    max_coldstart_ratings: int
    shared: SharedReadConnection
    allow_promote: bool = False  # the runs page may make a held run the latest
    scorers: dict[str, object] = dataclasses.field(default_factory=dict)
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)

    @contextlib.contextmanager
    def reader(self) -> Iterator[Reader]:
        with contextlib.ExitStack() as stack:
            try:
                con = stack.enter_context(self.shared.cursor())
            except WarehouseError as exc:
                raise HTTPException(503, str(exc)) from exc
            yield Reader(self.warehouse, con=con)

    def run_or_default(self, run: str | None) -> str | None:
        run = run or self.default_run
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


def page_routes() -> APIRouter:
    router = APIRouter()

    @router.get("/", response_class=HTMLResponse)
    def index() -> str:
        return (STATIC / "index.html").read_text()

    @router.get("/static/{name}")
    def static(name: str) -> FileResponse:
        if name not in {"app.js", "style.css"}:
            raise HTTPException(404, "no such file")
        return FileResponse(STATIC / name)

    return router


def run_routes(ctx: ExplorerContext) -> APIRouter:
    router = APIRouter()

    @router.get("/api/runs")
    @answer
    def runs() -> list[dict]:
        with ctx.reader() as r:
            return r.runs()

    @router.get("/api/runs/{run_id}/metrics")
    @answer
    def metrics(run_id: str) -> list[dict]:
        with ctx.reader() as r:
            return r.metrics(ctx.run_or_default(run_id))

    @router.get("/api/runs/{run_id}/model_card", response_class=PlainTextResponse)
    @answer
    def model_card(run_id: str) -> str:
        with ctx.reader() as r:
            run = r.resolve_run(ctx.run_or_default(run_id))
        path = RunLayout.of(ctx.outputs, run).model_card
        if not path.is_file():
            raise HTTPException(404, f"run {run} has no model card in {ctx.outputs}")
        return path.read_text()

    @router.get("/api/runs/{run_id}/figures")
    @answer
    def figure_list(run_id: str) -> list[str]:
        with ctx.reader() as r:
            run = r.resolve_run(ctx.run_or_default(run_id))
        folder = RunLayout.of(ctx.outputs, run).figures
        return sorted(p.name for p in folder.glob("*.png")) if folder.is_dir() else []

    @router.get("/api/runs/{run_id}/figures/{name}")
    @answer
    def figure(run_id: str, name: str) -> FileResponse:
        if not FIGURE.match(name):
            raise HTTPException(400, f"bad figure name {name!r}")
        with ctx.reader() as r:
            run = r.resolve_run(ctx.run_or_default(run_id))
        path = RunLayout.of(ctx.outputs, run).figures / name
        if not path.is_file():
            raise HTTPException(404, f"run {run} has no figure {name}")
        return FileResponse(path, media_type="image/png")

    return router


def catalogue_routes(ctx: ExplorerContext) -> APIRouter:
    router = APIRouter()

    @router.get("/api/genres")
    @answer
    def genres() -> list[str]:
        with ctx.reader() as r:
            return r.genres()

    @router.get("/api/years")
    @answer
    def years() -> dict:
        """The catalogue's year bounds, for the page's year range slider."""
        with ctx.reader() as r:
            first, last = r.year_range()
        return {"min": first, "max": last}

    @router.get("/api/users")
    @answer
    def users(
        q: Annotated[str, Query(max_length=12, pattern=r"^\d*$")] = "",
        run: str | None = None,
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
    ) -> list[int]:
        with ctx.reader() as r:
            run_id = r.resolve_run(ctx.run_or_default(run))
            rows = r.con.execute(
                """SELECT user_id FROM marts.user_embeddings WHERE run_id = ? AND CAST(user_id AS VARCHAR) LIKE ? || '%'
                   ORDER BY user_id LIMIT ?""",
                [run_id, q, limit],
            ).fetchall()
        return [u for (u,) in rows]

    @router.get("/api/movies")
    @answer
    def movies(
        q: Annotated[str, Query(min_length=2, max_length=80)],
        limit: Annotated[int, Query(ge=1, le=50)] = 15,
    ) -> list[dict]:
        with ctx.reader() as r:
            cur = r.con.execute(
                """SELECT movie_id, title, genres, movie_year(title) AS year FROM raw.movies
                   WHERE title ILIKE '%' || ? || '%' ORDER BY length(title), movie_id LIMIT ?""",
                [q, limit],
            )
            return [
                dict(zip(("movie_id", "title", "genres", "year"), row, strict=True))
                for row in cur.fetchall()
            ]

    return router


def list_routes(ctx: ExplorerContext) -> APIRouter:
    router = APIRouter()

    @router.get("/api/recommend")
    @answer
    def recommend(
        user: Annotated[int, Query(gt=0, lt=2**31)],
        genres: Annotated[str | None, Query(max_length=300)] = None,
        years: Annotated[str | None, Query(max_length=20)] = None,
        min_score: float | None = None,
        k: Annotated[int, Query(ge=1, le=100, description="list length, 1-100")] = 10,
        least: bool = False,
        run: str | None = None,
    ) -> dict:
        year_from, year_to = parse_years(years)
        g = parse_genres(genres)
        q = RecommendQuery(
            user, g, year_from, year_to, min_score, k, least, ctx.run_or_default(run)
        )
        with ctx.reader() as r:
            run_id = r.resolve_run(q.run_id)
            return {"run_id": run_id, "user": user, "items": r.recommend(q)}

    @router.post("/api/coldstart")
    @answer
    def coldstart(body: Annotated[ColdStart, Body()]) -> dict:
        if len(body.ratings) > ctx.max_coldstart_ratings:
            raise HTTPException(
                422,
                f"at most {ctx.max_coldstart_ratings} ratings per cold start, got {len(body.ratings)}",
            )
        with ctx.reader() as r:
            run_id = r.resolve_run(ctx.run_or_default(body.run))
            graph_path = run_files(r.con, run_id).graph_path
            with ctx.lock:
                scorer = ctx.scorers.get(run_id) or _load_scorer(
                    RunLayout.of(ctx.outputs, run_id).model, graph_path
                )
                ctx.scorers[run_id] = scorer
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

    return router


def _load_scorer(model_path: Path, graph_path: str | None):  # noqa: ANN202 - reelgraph.model.scoring.Scorer
    from reelgraph.graph.ratings import RatingGraph
    from reelgraph.model.scoring import Scorer

    if not model_path.is_file() or not graph_path or not Path(graph_path).is_file():
        raise HTTPException(
            409, "this run's model or graph files are gone (pruned?); pick a newer run"
        )
    return Scorer.load(model_path, RatingGraph.load(graph_path), "cpu")
