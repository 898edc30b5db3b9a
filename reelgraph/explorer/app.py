"""The web explorer: a FastAPI app over the read API, plus one static page (no build step).

Requests share one read-only connection (a cursor each), which is given back when idle or as
soon as a flow waits to write (warehouse.connection.SharedReadConnection); meanwhile requests
open their own connections and wait out the flow's short write lock, so the explorer keeps
answering while a flow publishes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reelgraph.explorer.routes import (
    ExplorerContext,
    catalogue_routes,
    list_routes,
    page_routes,
    run_routes,
)
from reelgraph.explorer.run_history import history_routes
from warehouse.connection import SharedReadConnection

# Limits a user can set (`reelgraph explore --max-body-kb / --max-coldstart-ratings`).
DEFAULT_MAX_BODY_BYTES = 64 * 1024  # a cold start of 1,000 ratings is about 40 KB
DEFAULT_MAX_COLDSTART_RATINGS = 1000
# Host headers answered by default: a page on another site that rebinds its DNS name to
# 127.0.0.1 sends its own name, and is refused.
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")


def create_app(
    warehouse: str | Path,
    outputs: str | Path,
    default_run: str | None = None,
    *,
    allowed_hosts: Sequence[str] = LOCAL_HOSTS,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    max_coldstart_ratings: int = DEFAULT_MAX_COLDSTART_RATINGS,
    allow_promote: bool = False,
) -> FastAPI:
    app = FastAPI(title="reelgraph explorer", docs_url=None, openapi_url="/api/openapi.json")
    _serve_docs_offline(app)
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))

    @app.exception_handler(RequestValidationError)
    def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        # One line per problem, without echoing the input (a NaN in it cannot even be JSON).
        return JSONResponse({"detail": validation_message(exc)}, status_code=422)

    ctx = ExplorerContext(
        Path(warehouse),
        Path(outputs),
        default_run,
        max_coldstart_ratings,
        SharedReadConnection(Path(warehouse), timeout_s=10),
        allow_promote,
    )
    app.state.connection = ctx.shared
    app.include_router(page_routes())
    for routes in (run_routes, history_routes, catalogue_routes, list_routes):
        app.include_router(routes(ctx))
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
