"""The explorer's runs page: every run with its status and the publish gate's verdict, the diff
of any two runs, and promoting a held run (only when started with `--allow-promote`)."""

from __future__ import annotations

import subprocess
import sys
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from reelgraph.core.errors import ReadError
from reelgraph.explorer.routes import ExplorerContext, answer

PROMOTE_TIMEOUT_S = 120


def history_routes(ctx: ExplorerContext) -> APIRouter:
    router = APIRouter()

    @router.get("/api/settings")
    def page_settings() -> dict:
        """What the page may offer: the promote button only with --allow-promote."""
        return {"allow_promote": ctx.allow_promote}

    @router.get("/api/diff")
    @answer
    def diff(
        b: Annotated[str | None, Query(max_length=80)] = None,
        a: Annotated[str | None, Query(max_length=80)] = None,
        k: Annotated[int, Query(ge=1, le=100)] = 10,
    ) -> dict:
        """Run a against run b (default: the latest against the run before it)."""
        from warehouse.run_diff import run_diff, runs_to_compare

        with ctx.reader() as r:
            older, newer = runs_to_compare(
                r, ctx.run_or_default(a) if a else None, ctx.run_or_default(b)
            )
            return run_diff(r.con, older, newer, k)

    @router.post("/api/runs/{run_id}/promote")
    @answer
    def promote(run_id: str) -> dict:
        """Make a held run the latest, by `reelgraph promote` in its own process: the explorer
        only reads, and DuckDB lets a write in only from a process that holds no read
        connection (the explorer's shared one gives the file back when a writer waits)."""
        if not ctx.allow_promote:
            raise HTTPException(403, "this explorer is read-only; start it with --allow-promote")
        run = ctx.run_or_default(run_id)
        done = subprocess.run(
            [sys.executable, "-m", "reelgraph", "promote", run, "--warehouse", str(ctx.warehouse)],
            capture_output=True,
            text=True,
            timeout=PROMOTE_TIMEOUT_S,
        )
        if done.returncode != 0:
            raise ReadError(
                done.stderr.strip().splitlines()[-1].removeprefix("reelgraph promote: ")
            )
        return {"run_id": run, "message": done.stdout.strip()}

    return router
