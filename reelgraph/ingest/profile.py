"""What an ingest loaded, in a few figures per file (ops.ingest_profile), and whether the data
moved past set bounds since the dataset's previous ingest (data drift).

A weekly export that lost half its users, or whose ratings moved a fifth of a star, trains a
model on other data than last week's; the ingest says so (a warning line and the `data-drift`
artifact) or, with `--max-drift`, refuses to load it (one line, nothing changed).
"""

from __future__ import annotations

import dataclasses

import polars as pl

from reelgraph.core.conventions import VALID_RATINGS
from reelgraph.core.errors import IngestError

QUANTILES = (0.1, 0.5, 0.9)


@dataclasses.dataclass(frozen=True)
class Bound:
    """One drift rule: `name` moved by more than `limit` (`relative`: a share of the old value,
    else in the figure's own unit)."""

    name: str
    limit: float
    relative: bool
    about: str

    def moved(self, old: float | None, new: float | None) -> float | None:
        """How far past zero the figure moved (signed), None when either side lacks it."""
        if old is None or new is None:
            return None
        return (new - old) / old if self.relative and old else new - old


# The bounds an ingest is checked against (ratings.csv; any file: its row count).
BOUNDS = (
    Bound("rating_mean", 0.2, False, "mean rating moved by more than 0.2 stars"),
    Bound("users", 0.5, True, "users changed by more than half"),
    Bound("movies", 0.5, True, "rated movies changed by more than half"),
    Bound("rows", 0.5, True, "rows changed by more than half"),
    Bound("per_user_p50", 1.0, True, "median rows per user changed by more than 100%"),
)


def profile(frame: pl.DataFrame) -> dict:
    """One file's figures from its loaded rows (warehouse column names): rows always; users and
    movies with the quantiles of rows per user and per movie, the rating histogram and mean,
    and the time range where the file has those columns."""
    out: dict = {"rows": frame.height}
    if not frame.height:
        return out
    columns = set(frame.columns)
    if {"user_id", "movie_id"} <= columns:  # ratings and tags: rows per user and per movie
        for key, column in (("users", "user_id"), ("movies", "movie_id")):
            counts = frame.group_by(column).len()["len"]
            out[key] = counts.len()
            for q in QUANTILES:
                out[f"per_{key[:-1]}_p{int(q * 100)}"] = float(counts.quantile(q, "nearest"))
    if "rating" in columns:
        out["rating_mean"] = float(frame["rating"].mean())
        counts = frame["rating"].value_counts()
        seen = dict(zip(counts["rating"].to_list(), counts["count"].to_list(), strict=True))
        out["rating_histogram"] = {f"{r:g}": int(seen.get(r, 0)) for r in VALID_RATINGS}
    if "ts" in columns:
        out["first_at"] = str(frame["ts"].min())
        out["last_at"] = str(frame["ts"].max())
    return out


def drift(old: dict[str, dict], new: dict[str, dict]) -> list[dict]:
    """Each (file, bound) the new profiles moved past against the old ones."""
    found = []
    for file, figures in new.items():
        before = old.get(file)
        if before is None:
            continue
        for bound in BOUNDS:
            moved = bound.moved(before.get(bound.name), figures.get(bound.name))
            if moved is not None and abs(moved) > bound.limit:
                found.append(
                    {
                        "file": file,
                        "figure": bound.name,
                        "old": before[bound.name],
                        "new": figures[bound.name],
                        "bound": bound.about,
                    }
                )
    return found


def describe(found: list[dict], previous_ingest: int) -> str:
    """One line naming every figure past its bound."""
    moves = "; ".join(
        f"{d['file']}: {d['figure']} {_fmt(d['old'])} -> {_fmt(d['new'])} ({d['bound']})"
        for d in found
    )
    return f"data drift since ingest {previous_ingest}: {moves}"


def refuse(found: list[dict], previous_ingest: int) -> None:
    if found:
        raise IngestError(
            f"{describe(found, previous_ingest)}; refused by --max-drift, nothing was ingested "
            "or changed (run without --max-drift to load it with a warning)"
        )


def markdown(found: list[dict], previous_ingest: int, ingest_id: int | None) -> str:
    """The `data-drift` artifact."""
    what = f"Ingest {ingest_id}" if ingest_id is not None else "The refused ingest"
    lines = [
        "# Data drift",
        "",
        f"{what} against ingest {previous_ingest}, the dataset's previous one:",
        "",
        "| file | figure | before | now | bound |",
        "|---|---|---|---|---|",
        *(
            f"| {d['file']} | {d['figure']} | {_fmt(d['old'])} | {_fmt(d['new'])} | {d['bound']} |"
            for d in found
        ),
    ]
    return "\n".join(lines) + "\n"


def _fmt(value: float) -> str:
    return f"{value:,.3f}".rstrip("0").rstrip(".") if isinstance(value, float) else f"{value:,}"
