"""The run's figures, each its own task (they run side by side on a cluster), and the model card
and run-summary artifacts, which gather them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
from prefect import get_run_logger, task
from prefect.artifacts import create_link_artifact, create_markdown_artifact

from reelgraph.core.run_layout import RunLayout
from reelgraph.model import loaded
from reelgraph.serve import figures, list_files, model_card, run_summary
from reelgraph.serve.embedding_quality import genre_agreement_report
from warehouse import connect


def _movies(warehouse: str) -> pl.DataFrame:
    con = connect(warehouse, read_only=True)
    try:
        return con.sql("SELECT movie_id, title, genres FROM raw.movies").pl()
    finally:
        con.close()


@task(name="figure-training-curves")
def curves_figure_task(run_dir: str) -> str:
    out = RunLayout(Path(run_dir))
    history = json.loads(out.history("eval_model").read_text())
    return str(figures.training_curves(history, out.figures / "training_curves.png"))


@task(name="figure-metrics")
def metrics_figure_task(run_dir: str) -> str:
    out = RunLayout(Path(run_dir))
    bars = figures.metrics_bars(
        figures.load_metrics(out.metrics), out.figures / "metrics_vs_baselines.png"
    )
    return str(bars)


@task(name="figure-embeddings")
def embeddings_figure_task(
    warehouse: str, run_dir: str, graph_path: str, model_path: str, device: str, seed: int
) -> tuple[str, dict]:
    """The movie-embedding UMAP of the ranking vectors of the model that serves the lists, and
    their genre agreement (also written to the run's embedding_quality.json)."""
    out = RunLayout(Path(run_dir))
    movies = _movies(warehouse)
    genre_of = dict(zip(movies["movie_id"].to_list(), movies["genres"].to_list(), strict=True))
    scorer = loaded.scorer(graph_path, model_path, device)
    graph = scorer.graph
    y = list_files.ranking_unit_rows(scorer)
    agreement, shown = genre_agreement_report(
        y,
        graph.x_movie.numpy(),
        [genre_of[int(i)] for i in graph.movie_ids.tolist()],
        np.bincount(graph.part("train")[1].numpy(), minlength=graph.n_movies),
        seed,
    )
    path = figures.embedding_umap(
        y[shown],
        [genre_of[int(graph.movie_ids[i])] for i in shown],
        out.figures / "movie_embeddings_umap.png",
        agreement,
        seed,
    )
    out.embedding_quality.write_text(json.dumps(agreement, indent=2))
    return str(path), agreement


@task(name="figure-lists")
def lists_figures_task(warehouse: str, run_dir: str, seed: int) -> list[str]:
    """One user's top-5 as a graph, and eight users' top-5 as a network, from the published
    recommendations."""
    out = RunLayout(Path(run_dir))
    movies = _movies(warehouse)
    titles = dict(zip(movies["movie_id"].to_list(), movies["title"].to_list(), strict=True))
    recs = pl.read_parquet(out.dir / list_files.MART_FILES["recommendations"])
    users = recs["user_id"].unique().sort().to_list()
    return [
        str(figures.user_graph(users[0], recs, titles, out.figures / "user_top5_graph.png", seed)),
        str(
            figures.users_network(
                recs,
                titles,
                users[: min(8, len(users))],
                out.figures / "users_top5_network.png",
                seed,
            )
        ),
    ]


@task(name="model-card")
def model_card_task(
    run_id: str,
    run_dir: str,
    dataset: str,
    split: dict,
    train: dict,
    served: dict | None,
    agreement: dict,
    paths: list[str],
) -> dict:
    """The model card and the run-summary and figure artifacts, from the figures' files."""
    out = RunLayout(Path(run_dir))
    comparison_md = out.comparison.read_text()
    out.model_card.write_text(
        model_card.model_card(
            run_id, dataset, split, train, served, comparison_md, agreement, paths
        )
    )
    files = [Path(p) for p in paths]
    _summary_artifacts(run_id, out, files, dataset, split["split_id"], served, comparison_md)
    get_run_logger().info("wrote %d figures and the model card to %s", len(files), out.dir)
    return {"figures": paths, "model_card": str(out.model_card), "genre_agreement": agreement}


def _summary_artifacts(
    run_id: str,
    out: RunLayout,
    paths: list[Path],
    dataset: str,
    split_id: str,
    served: dict | None,
    comparison_md: str,
) -> None:
    """A link artifact per figure and the run-summary markdown (file:// links: the stage's own
    record; the pipeline run's summary links the same figures over http)."""
    for p in paths:
        create_link_artifact(
            link=p.resolve().as_uri(),
            link_text=p.name,
            key=f"figure-{p.stem.replace('_', '-')}",
            description=f"run {run_id}: {p.stem.replace('_', ' ')}",
        )
    recs_file = out.dir / list_files.MART_FILES["recommendations"]
    files = ", ".join(
        f"[{p.name}]({p.resolve().as_uri()})"
        for p in (recs_file, out.metrics, out.model, out.model_card)
    )
    lists_from = run_summary.lists_source(served is not None)
    create_markdown_artifact(
        f"# reelgraph run {run_id}\n\nDataset `{dataset}`, split `{split_id}`. "
        f"Test metrics: the model trained on the train part; published lists: {lists_from}.\n\n"
        f"## Test metrics\n\n{comparison_md}\n"
        f"\n## Figures\n\n"
        + "\n".join(f"- [{p.name}]({p.resolve().as_uri()})" for p in paths)
        + f"\n\n## Files\n\n{files}\n",
        key="run-summary",
        description=f"run {run_id}",
    )
